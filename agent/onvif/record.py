"""One device record (JSON-ready dict) from an Observation: identity, vulnerabilities, findings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.identify.classify import Identification, Signals, classify
from agent.identify.tables import Tables
from agent.identify.vulns import match_vulnerabilities
from agent.onvif.poll import Observation
from agent.onvif.security import Finding, FindingKind, Severity, security_findings

RECORD_VERSION = 1


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
) -> dict[str, Any]:
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
    order = list(Severity)
    findings.sort(key=lambda f: -order.index(f.severity))
    maker_row = tables.vendors.get(ident.maker or "")
    return {
        "record_version": RECORD_VERSION,
        "address": obs.target.address,
        "port": obs.target.port,
        "source": obs.target.source,  # config | ws-discovery | recorder:<address>
        "reachable": obs.reachable,
        "manufacturer": device.manufacturer if device else None,
        "model": device.model if device else None,
        "firmware": device.firmware if device else None,
        "serial": device.serial if device else None,
        "hardware_id": device.hardware_id if device else None,
        "mac": signals.mac or None,
        "maker": ident.maker,
        "maker_restricted": bool(maker_row and maker_row.restricted),
        "brand": ident.brand,
        "maker_confidence": ident.confidence,
        "evidence": [e.as_json() for e in ident.evidence],
        "vulnerabilities": [v.as_json() for v in vulns],
        "findings": [f.as_json() for f in findings],
        "clock_offset_s": obs.clock_offset_s,
        "hostname": obs.hostname.name if obs.hostname and obs.hostname.name else None,
        "ipv4": sorted({a for nic in obs.interfaces for a in nic.ipv4}),
        "scopes": list(obs.scopes),
        "ntp_servers": list(obs.ntp.servers) if obs.ntp else None,
        "dns_servers": list(obs.dns.servers) if obs.dns else None,
        "protocols": [
            {"name": p.name, "enabled": p.enabled, "ports": list(p.ports)} for p in (obs.protocols or [])
        ],
        "users": [{"username": u.username, "level": u.level} for u in (obs.users or [])],
        "services": [{"namespace": s.namespace, "version": s.version} for s in obs.services],
        "channels": [
            {"host": c.host, "uri": c.uri, "name": c.name, "source": c.source} for c in obs.channels
        ],
        "http_server": obs.http_server or None,
        "authenticated": obs.authenticated,
        "polled_at": polled_at,
        "poll_duration_s": round(duration_s, 3),
    }
