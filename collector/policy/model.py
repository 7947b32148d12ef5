"""The segmentation policy: TOML in, frozen dataclasses out, every problem named by file and key.

``load_policy(path)`` returns a ``Policy`` or raises ``PolicyError`` carrying every problem
found (not just the first); ``check_policy_file(path)`` returns those problems as lines of
``file: key: problem``. ``Policy.version`` is the sha256 of the file's bytes, recorded by every
evaluation so a violation can be traced to the exact rules that raised it.
See ``deploy/policy.example.toml`` and ``docs/policy.md``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import structlog

from agent.runtime.configfile import TomlTextError, parse_toml_bytes
from agent.runtime.errors import CamsentryError
from agent.wire.allowlist import AllowEntry, Network, check_entry
from agent.wire.findings import Severity
from agent.wire.topics import valid_name

E = TypeVar("E", bound=StrEnum)
log = structlog.get_logger(__name__)


class SiteClass(StrEnum):
    SENSITIVE = "sensitive"
    STANDARD = "standard"
    PUBLIC = "public"


class Enforcement(StrEnum):
    REPORT = "report"
    QUARANTINE = "quarantine"


# HCWS386 (24 Nov 2022) names these two; OEM relabels are resolved to them by identification.
DEFAULT_RESTRICTED_MAKERS = frozenset({"hikvision", "dahua"})
DEFAULT_RESTRICTED_CLASSES = frozenset({SiteClass.SENSITIVE})
# Beyond five minutes WS-Security timestamps are refused and evidence times stop lining up.
DEFAULT_CLOCK_SKEW_MAX_S = 300.0
# Agents publish health every minute; fifteen missed means it is down, not slow.
DEFAULT_AGENT_SILENT_AFTER_S = 900.0
# A camera unseen for a day while its agent reports is gone (or unplugged): someone should look.
DEFAULT_DEVICE_VANISHED_AFTER_S = 86400.0
DEFAULT_MIN_MAKER_CONFIDENCE = 0.5


class PolicyError(CamsentryError):
    """A policy file that cannot be used; ``errors`` holds every ``file: key: problem``."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Site:
    name: str
    site_class: SiteClass = SiteClass.STANDARD
    department: str = ""
    removal_deadline: date | None = None
    enforcement: Enforcement = Enforcement.REPORT
    group: str | None = None
    recorders: tuple[str, ...] = ()


# One validator and matcher for allow entries, shared with the agent (agent.wire.allowlist):
# whatever this file accepts, the agent's Allowlist.from_document accepts.
AllowRule = AllowEntry


@dataclass(frozen=True)
class FirmwareMinimum:
    maker: str
    model_prefix: str
    version: str
    severity: Severity

    def below(self, maker: str | None, model: str | None, firmware: str | None) -> bool:
        """True when the device matches this rule and its firmware is older than ``version``."""
        if (maker or "").lower() != self.maker or not (model or "").upper().startswith(self.model_prefix):
            return False
        have = version_tuple(firmware or "")
        return bool(have) and have < version_tuple(self.version)


@dataclass(frozen=True)
class Thresholds:
    clock_skew_max_s: float = DEFAULT_CLOCK_SKEW_MAX_S
    agent_silent_after_s: float = DEFAULT_AGENT_SILENT_AFTER_S
    device_vanished_after_s: float = DEFAULT_DEVICE_VANISHED_AFTER_S
    min_maker_confidence: float = DEFAULT_MIN_MAKER_CONFIDENCE


@dataclass(frozen=True)
class Policy:
    version: str
    source: str = "<defaults>"
    sites: Mapping[str, Site] = field(default_factory=lambda: MappingProxyType({}))
    default_class: SiteClass = SiteClass.STANDARD
    default_enforcement: Enforcement = Enforcement.REPORT
    core_networks: tuple[Network, ...] = ()
    restricted_makers: frozenset[str] = DEFAULT_RESTRICTED_MAKERS
    restricted_classes: frozenset[SiteClass] = DEFAULT_RESTRICTED_CLASSES
    egress_sites: Mapping[str, tuple[AllowRule, ...]] = field(default_factory=lambda: MappingProxyType({}))
    egress_groups: Mapping[str, tuple[AllowRule, ...]] = field(default_factory=lambda: MappingProxyType({}))
    kev_severity: Severity = Severity.CRITICAL
    vulnerable_severity: Severity = Severity.HIGH
    firmware_minimums: tuple[FirmwareMinimum, ...] = ()
    thresholds: Thresholds = Thresholds()

    def site(self, name: str) -> Site:
        """The site's entry, or one with the defaults for a site the file does not name."""
        return self.sites.get(name) or Site(
            name=name, site_class=self.default_class, enforcement=self.default_enforcement
        )

    def restricted_maker(self, maker: str | None) -> bool:
        return (maker or "").strip().lower() in self.restricted_makers

    def restricted_at(self, maker: str | None, site: str) -> bool:
        return self.restricted_maker(maker) and self.site(site).site_class in self.restricted_classes

    def in_core(self, address: str | None) -> bool:
        try:
            parsed = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(parsed in net for net in self.core_networks)

    def allowlist(self, site: str) -> tuple[AllowRule, ...]:
        group = self.site(site).group
        from_group = self.egress_groups.get(group, ()) if group else ()
        return (*self.egress_sites.get(site, ()), *from_group)

    def governs_egress(self, site: str) -> bool:
        """True when the file has an allow list for the site or its group (even an empty one)."""
        group = self.site(site).group
        return site in self.egress_sites or (group is not None and group in self.egress_groups)

    def egress_document(self, site: str) -> dict[str, Any] | None:
        """``{"allow": [...], "core_networks": [...]}`` for the site's agents (a policy push), or
        None when the policy has no allow list for the site: its agents keep their config's."""
        if not self.governs_egress(site):
            return None
        return {
            "allow": [rule.as_document() for rule in self.allowlist(site)],
            "core_networks": [str(net) for net in self.core_networks],
        }


def version_tuple(text: str) -> tuple[int, ...]:
    """``V5.5.800 build 210628`` → (5, 5, 800): the dotted numbers of the first version-like run."""
    match = re.search(r"\d+(?:\.\d+)+|\d+", text)
    return tuple(int(p) for p in match.group(0).split(".")) if match else ()


def default_policy() -> Policy:
    """The policy when no file is configured: restricted makers at sensitive sites, report only."""
    return Policy(version="sha256:" + hashlib.sha256(b"").hexdigest())


class _Reader:
    """Collects every problem with its key path instead of stopping at the first."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[str] = []

    def error(self, key: str, problem: str) -> None:
        self.errors.append(f"{self.file}: {key}: {problem}")

    def table(self, doc: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = doc.get(key, {})
        if not isinstance(value, dict):
            self.error(path, "must be a table")
            return {}
        return value

    def unknown(self, doc: Mapping[str, Any], allowed: set[str], path: str) -> None:
        for key in sorted(set(doc) - allowed):
            self.error(f"{path}.{key}" if path else key, "unknown key")

    def string(self, doc: Mapping[str, Any], key: str, path: str, default: str | None = None) -> str | None:
        value = doc.get(key, default)
        if value is not None and not isinstance(value, str):
            self.error(path, f"must be a string, not {type(value).__name__}")
            return default
        return value

    def number(
        self,
        doc: Mapping[str, Any],
        key: str,
        path: str,
        default: float,
        *,
        lo: float = 0,
        hi: float | None = None,
    ) -> float:
        """A finite number in [lo, hi]: nan would make every comparison false, silently switching
        off the violations the threshold decides."""
        value = doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(path, "must be a number")
            return default
        if not math.isfinite(value):
            self.error(path, f"must be a finite number, got {value}")
            return default
        if value < lo:
            self.error(path, f"must be at least {lo}")
            return default
        if hi is not None and value > hi:
            self.error(path, f"must be at most {hi}")
            return default
        return float(value)

    def choice(self, doc: Mapping[str, Any], key: str, path: str, enum: type[E], default: E) -> E:
        value = doc.get(key, default.value)
        try:
            return enum(value)
        except ValueError:
            options = ", ".join(e.value for e in enum)
            self.error(path, f"{value!r} is not one of {options}")
            return default

    def strings(self, doc: Mapping[str, Any], key: str, path: str) -> list[str] | None:
        value = doc.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(path, "must be a list of strings")
            return None
        return value

    def network(self, text: str, path: str) -> Network | None:
        if "%" in text:
            self.error(path, "scoped addresses (with %zone) are refused")
            return None
        try:
            return ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            self.error(path, f"not a network: {exc}")
            return None


def _allow_rules(r: _Reader, rules: Any, path: str) -> tuple[AllowRule, ...]:
    if not isinstance(rules, list):
        r.error(path, "must be a list of tables like { cidr = ..., ports = [...] }")
        return ()
    out: list[AllowRule] = []
    for i, item in enumerate(rules):
        entry, problems = check_entry(item)
        for where, problem in problems:
            r.error(f"{path}[{i}]{where}", problem)
        if entry is not None:
            out.append(entry)
    return tuple(out)


def _sites(r: _Reader, doc: Mapping[str, Any], defaults: Site) -> dict[str, Site]:
    sites: dict[str, Site] = {}
    for name, entry in r.table(doc, "sites", "sites").items():
        path = f"sites.{name}"
        if not valid_name(name):
            r.error(path, "site names are letters, digits, '.', '_' and '-' (as in topics)")
        if not isinstance(entry, dict):
            r.error(path, "must be a table")
            continue
        r.unknown(
            entry, {"class", "department", "removal_deadline", "enforcement", "group", "recorders"}, path
        )
        deadline = entry.get("removal_deadline")
        if deadline is not None and (not isinstance(deadline, date) or hasattr(deadline, "hour")):
            r.error(f"{path}.removal_deadline", "must be a TOML date like 2026-03-31 (no quotes)")
            deadline = None
        recorders: list[str] = []
        for i, text in enumerate(r.strings(entry, "recorders", f"{path}.recorders") or []):
            try:
                recorders.append(str(ipaddress.ip_address(text)))
            except ValueError:
                r.error(f"{path}.recorders[{i}]", f"{text!r} is not an IP address")
        sites[name] = Site(
            name=name,
            site_class=r.choice(entry, "class", f"{path}.class", SiteClass, defaults.site_class),
            department=r.string(entry, "department", f"{path}.department", "") or "",
            removal_deadline=deadline,
            enforcement=r.choice(
                entry, "enforcement", f"{path}.enforcement", Enforcement, defaults.enforcement
            ),
            group=r.string(entry, "group", f"{path}.group"),
            recorders=tuple(recorders),
        )
    return sites


def _firmware(r: _Reader, doc: Mapping[str, Any]) -> tuple[Severity, Severity, tuple[FirmwareMinimum, ...]]:
    fw = r.table(doc, "firmware", "firmware")
    r.unknown(fw, {"kev_severity", "vulnerable_severity", "minimum"}, "firmware")
    kev = r.choice(fw, "kev_severity", "firmware.kev_severity", Severity, Severity.CRITICAL)
    vuln = r.choice(fw, "vulnerable_severity", "firmware.vulnerable_severity", Severity, Severity.HIGH)
    minimums: list[FirmwareMinimum] = []
    raw = fw.get("minimum", [])
    if not isinstance(raw, list):
        r.error("firmware.minimum", "must be an array of tables ([[firmware.minimum]])")
        raw = []
    for i, item in enumerate(raw):
        path = f"firmware.minimum[{i}]"
        if not isinstance(item, dict):
            r.error(path, "must be a table")
            continue
        r.unknown(item, {"maker", "model_prefix", "version", "severity"}, path)
        maker = r.string(item, "maker", f"{path}.maker")
        version = r.string(item, "version", f"{path}.version")
        if not maker:
            r.error(f"{path}.maker", "is required")
        if not version or not version_tuple(version):
            r.error(f"{path}.version", "is required and must contain a dotted version number")
        if maker and version and version_tuple(version):
            minimums.append(
                FirmwareMinimum(
                    maker=maker.lower(),
                    model_prefix=(r.string(item, "model_prefix", f"{path}.model_prefix", "") or "").upper(),
                    version=version,
                    severity=r.choice(item, "severity", f"{path}.severity", Severity, Severity.HIGH),
                )
            )
    return kev, vuln, tuple(minimums)


def parse_policy(data: bytes, source: str) -> tuple[Policy | None, list[str]]:
    """Parse policy bytes; returns the policy (None when any error) and every error found."""
    r = _Reader(source)
    try:
        doc = parse_toml_bytes(data)
    except TomlTextError as exc:
        r.error("-", str(exc))
        return None, r.errors
    return policy_from_document(doc, "sha256:" + hashlib.sha256(data).hexdigest(), source)


def policy_from_document(
    doc: Mapping[str, Any], version: str, source: str
) -> tuple[Policy | None, list[str]]:
    """Validate a parsed TOML document; the policy is None when any error was found."""
    r = _Reader(source)
    r.unknown(doc, {"defaults", "core_networks", "restricted", "sites", "egress", "firmware"}, "")

    d = r.table(doc, "defaults", "defaults")
    r.unknown(
        d,
        {
            "class",
            "enforcement",
            "clock_skew_max_s",
            "agent_silent_after_s",
            "device_vanished_after_s",
            "min_maker_confidence",
        },
        "defaults",
    )
    defaults = Site(
        name="",
        site_class=r.choice(d, "class", "defaults.class", SiteClass, SiteClass.STANDARD),
        enforcement=r.choice(d, "enforcement", "defaults.enforcement", Enforcement, Enforcement.REPORT),
    )
    thresholds = Thresholds(
        clock_skew_max_s=r.number(
            d, "clock_skew_max_s", "defaults.clock_skew_max_s", DEFAULT_CLOCK_SKEW_MAX_S
        ),
        agent_silent_after_s=r.number(
            d, "agent_silent_after_s", "defaults.agent_silent_after_s", DEFAULT_AGENT_SILENT_AFTER_S, lo=1
        ),
        device_vanished_after_s=r.number(
            d,
            "device_vanished_after_s",
            "defaults.device_vanished_after_s",
            DEFAULT_DEVICE_VANISHED_AFTER_S,
            lo=1,
        ),
        min_maker_confidence=r.number(
            d, "min_maker_confidence", "defaults.min_maker_confidence", DEFAULT_MIN_MAKER_CONFIDENCE, hi=1
        ),
    )

    core: list[Network] = []
    for i, text in enumerate(r.strings(doc, "core_networks", "core_networks") or []):
        net = r.network(text, f"core_networks[{i}]")
        if net is not None:
            core.append(net)

    rt = r.table(doc, "restricted", "restricted")
    r.unknown(rt, {"makers", "site_classes"}, "restricted")
    makers = r.strings(rt, "makers", "restricted.makers")
    classes: set[SiteClass] = set(DEFAULT_RESTRICTED_CLASSES)
    raw_classes = r.strings(rt, "site_classes", "restricted.site_classes")
    if raw_classes is not None:
        classes = set()
        for i, text in enumerate(raw_classes):
            try:
                classes.add(SiteClass(text))
            except ValueError:
                options = ", ".join(c.value for c in SiteClass)
                r.error(f"restricted.site_classes[{i}]", f"{text!r} is not one of {options}")

    sites = _sites(r, doc, defaults)

    eg = r.table(doc, "egress", "egress")
    r.unknown(eg, {"sites", "groups"}, "egress")
    egress: dict[str, dict[str, tuple[AllowRule, ...]]] = {"sites": {}, "groups": {}}
    for scope in ("sites", "groups"):
        for name, entry in r.table(eg, scope, f"egress.{scope}").items():
            path = f"egress.{scope}.{name}"
            if not isinstance(entry, dict):
                r.error(path, "must be a table with an allow list")
                continue
            r.unknown(entry, {"allow"}, path)
            egress[scope][name] = _allow_rules(r, entry.get("allow", []), f"{path}.allow")
    groups = {s.group for s in sites.values() if s.group}
    for name in egress["groups"]:
        if name not in groups:
            r.error(f"egress.groups.{name}", "no site is in this group")
    for name in egress["sites"]:
        if name not in sites:
            r.error(f"egress.sites.{name}", "no such site in [sites]")

    kev, vuln, minimums = _firmware(r, doc)
    if r.errors:
        return None, r.errors
    policy = Policy(
        version=version,
        source=source,
        sites=MappingProxyType(sites),
        default_class=defaults.site_class,
        default_enforcement=defaults.enforcement,
        core_networks=tuple(core),
        restricted_makers=frozenset(m.lower() for m in makers)
        if makers is not None
        else DEFAULT_RESTRICTED_MAKERS,
        restricted_classes=frozenset(classes),
        egress_sites=MappingProxyType(egress["sites"]),
        egress_groups=MappingProxyType(egress["groups"]),
        kev_severity=kev,
        vulnerable_severity=vuln,
        firmware_minimums=minimums,
        thresholds=thresholds,
    )
    return policy, []


def check_policy_file(path: Path) -> list[str]:
    """Every problem in the policy file as ``file: key: problem``; empty when it is usable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [f"{path}: cannot read: {exc.strerror or exc}"]
    return parse_policy(data, str(path))[1]


def reload_policy(path: Path, current: Policy) -> Policy:
    """For SIGHUP: the new policy if the file is valid, else ``current`` (and every error logged)."""
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        log.error(
            "policy_reload_failed",
            path=str(path),
            errors=exc.errors,
            kept=current.version,
            outcome="the running policy stays in force",
        )
        return current
    if policy.version != current.version:
        log.info("policy_reloaded", path=str(path), version=policy.version, previous=current.version)
    else:
        log.info("policy_reload_unchanged", path=str(path), version=policy.version)
    return policy


def load_policy(path: Path) -> Policy:
    """Load and validate the policy file; ``PolicyError`` lists every problem."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    policy, errors = parse_policy(data, str(path))
    if policy is None:
        raise PolicyError(errors)
    return policy
