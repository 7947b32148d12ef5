"""One ``DeviceRecord`` (the wire contract's) from an Observation: identity, vulnerabilities, findings."""

from __future__ import annotations

from collections.abc import Sequence

from agent.identify.classify import Identification, Signals, classify
from agent.identify.tables import Tables
from agent.identify.vulns import match_vulnerabilities
from agent.onvif.poll import Observation
from agent.onvif.security import security_findings
from agent.wire.findings import Finding, FindingKind, Severity, sort_findings
from agent.wire.inventory import (
    ChannelEntry,
    DeviceRecord,
    Evidence,
    Protocol,
    ServiceEntry,
    User,
    Vulnerability,
)
from agent.wire.inventory import Signals as WireSignals


def signals_of(obs: Observation, *, mac: str = "", hostnames: Sequence[str] = ()) -> Signals:
    device, target = obs.device, obs.target
    primary = obs.mac or mac
    names = list(hostnames)
    if obs.hostname is not None and obs.hostname.name:
        names.append(obs.hostname.name)
    if obs.ntp is not None:
        names += list(obs.ntp.servers)
    if obs.dns is not None:
        names += list(obs.dns.search_domains)
    return Signals(
        manufacturer=device.manufacturer if device else "",
        model=device.model if device else "",
        firmware=device.firmware if device else "",
        serial=device.serial if device else "",
        mac=primary,
        scopes=tuple(obs.scopes),
        http_server=obs.http_server,
        login_title=obs.login_title,
        hostnames=tuple(names),
        # What the ProbeMatch announced counts too, so a camera that refuses GetScopes (or that
        # we hold no credentials for) is still identified.
        probe_scopes=target.probe_scopes,
        xaddr_hints=tuple(h for h in (*target.xaddrs, target.probe_endpoint) if h),
        macs=tuple(dict.fromkeys(m for nic in obs.interfaces if (m := nic.mac) and m != primary)),
    )


def build_record(
    obs: Observation,
    tables: Tables,
    *,
    polled_at: str,
    duration_s: float,
    neighbour_mac: str = "",
    hostnames: Sequence[str] = (),
) -> DeviceRecord:
    """The device record the agent publishes and ``scan --json`` prints."""
    signals = signals_of(obs, mac=neighbour_mac, hostnames=hostnames)
    ident: Identification = classify(signals, tables)
    device = obs.device
    vulns = match_vulnerabilities(
        tables,
        maker=ident.maker,
        brand=ident.brand,
        model=signals.model,
        firmware=signals.firmware,
    )
    findings: list[Finding] = security_findings(obs)
    for vuln in vulns:
        findings.append(
            Finding(
                FindingKind.VULNERABLE_FIRMWARE,
                Severity.CRITICAL if vuln.kev else Severity.HIGH,
                f"{vuln.cve}{' (CISA KEV)' if vuln.kev else ''}: {vuln.summary}",
            )
        )
    maker_row = tables.vendors.get(ident.maker or "")
    return DeviceRecord(
        address=obs.target.address,
        port=obs.target.port,
        source=obs.target.source,  # config | ws-discovery | recorder:<address>
        reachable=obs.reachable,
        manufacturer=device.manufacturer if device else None,
        model=device.model if device else None,
        firmware=device.firmware if device else None,
        serial=device.serial if device else None,
        hardware_id=device.hardware_id if device else None,
        mac=signals.mac or None,
        maker=ident.maker,
        maker_restricted=bool(maker_row and maker_row.restricted),
        brand=ident.brand,
        maker_confidence=ident.confidence,
        restricted=str(ident.restricted),
        evidence=tuple(Evidence(str(e.signal), e.value, e.points_to, e.weight) for e in ident.evidence),
        signals=WireSignals(
            manufacturer=signals.manufacturer,
            model=signals.model,
            firmware=signals.firmware,
            serial=signals.serial,
            mac=signals.mac,
            scopes=tuple(signals.scopes),
            http_server=signals.http_server,
            login_title=signals.login_title,
            hostnames=tuple(signals.hostnames),
            probe_scopes=tuple(signals.probe_scopes),
            xaddr_hints=tuple(signals.xaddr_hints),
            macs=tuple(signals.macs),
        ),
        vulnerabilities=tuple(Vulnerability(v.cve, v.kev, v.summary) for v in vulns),
        findings=tuple(sort_findings(findings)),
        clock_offset_s=obs.clock_offset_s,
        hostname=obs.hostname.name if obs.hostname and obs.hostname.name else None,
        ipv4=tuple(sorted({a for nic in obs.interfaces for a in nic.ipv4})),
        scopes=tuple(obs.scopes),
        ntp_servers=tuple(obs.ntp.servers) if obs.ntp else None,
        dns_servers=tuple(obs.dns.servers) if obs.dns else None,
        protocols=tuple(Protocol(p.name, p.enabled, tuple(p.ports)) for p in (obs.protocols or [])),
        users=tuple(User(u.username, u.level) for u in (obs.users or [])),
        services=tuple(ServiceEntry(s.namespace, s.version) for s in obs.services),
        channels=tuple(ChannelEntry(c.host, c.uri, c.name, c.source) for c in obs.channels),
        http_server=obs.http_server or None,
        authenticated=obs.authenticated,
        polled_at=polled_at,
        poll_duration_s=round(duration_s, 3),
    )
