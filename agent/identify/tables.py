"""The identification tables: CSV files in ``agent/data``, every row with its source.

Loaded once per process (``load_tables()`` is cached) and validated on load: a row without a
source, a malformed OUI, regular expression or firmware range is a ``TableError``.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import re
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources

from agent.identify.firmware import Constraint, RangeError, parse_range


class TableError(ValueError):
    """A data file row is unusable; the message names file, row and column."""


class Confidence(StrEnum):
    HIGH = "high"
    MED = "med"
    LOW = "low"

    @property
    def factor(self) -> float:
        """How much of a signal's weight a row of this confidence carries."""
        return {"high": 1.0, "med": 0.8, "low": 0.35}[self.value]


class OuiKind(StrEnum):
    MAKER = "maker"  # registered to the maker of the hardware
    BRAND = "brand"  # registered to a brand that sells another maker's hardware
    HINT = "hint"  # a related registrant; the tie is unverified
    MODULE = "module"  # a Wi-Fi/cellular module or chip maker: says nothing about the camera


@dataclass(frozen=True)
class Vendor:
    maker: str
    display: str
    restricted: bool
    aliases: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Brand:
    brand: str
    display: str
    maker: str
    confidence: Confidence
    source: str


@dataclass(frozen=True)
class Oui:
    prefix: str  # upper-case hex digits without separators: 6, 7 or 9 of them
    registrant: str
    points_to: str  # a maker or brand id
    kind: OuiKind
    source: str


@dataclass(frozen=True)
class Pattern:
    maker: str
    regex: re.Pattern[str]
    label: str
    confidence: Confidence
    source: str


@dataclass(frozen=True)
class CloudDomain:
    domain: str
    maker: str
    role: str
    confidence: Confidence
    source: str


@dataclass(frozen=True)
class Vulnerability:
    cve: str
    maker: str
    brand: str  # empty: any brand of that maker
    models: re.Pattern[str]
    affected: tuple[Constraint, ...]
    kev: bool
    kev_added: str
    summary: str
    source: str


@dataclass(frozen=True)
class DefaultCredential:
    maker: str
    username: str
    password: str
    condition: str
    source: str

    def __repr__(self) -> str:
        return f"DefaultCredential({self.maker!r}, {self.username!r})"


@dataclass(frozen=True)
class GenericLabel:
    label: str  # lower case, the whole manufacturer/model/scope-name string
    makers: tuple[str, ...]  # the makers whose OEM firmware is known to send it
    source: str


@dataclass(frozen=True)
class Tables:
    vendors: dict[str, Vendor]
    brands: dict[str, Brand]
    ouis: dict[str, Oui]
    model_patterns: tuple[Pattern, ...]
    firmware_formats: tuple[Pattern, ...]
    server_patterns: tuple[Pattern, ...]
    title_patterns: tuple[Pattern, ...]
    cloud_domains: tuple[CloudDomain, ...]
    vulnerabilities: tuple[Vulnerability, ...]
    default_credentials: tuple[DefaultCredential, ...]
    generic_labels: dict[str, GenericLabel] = field(default_factory=dict)

    @functools.cached_property
    def name_patterns(self) -> tuple[tuple[re.Pattern[str], str], ...]:
        """Every vendor alias and brand name as a whole-word pattern, longest first."""
        pairs: list[tuple[str, str]] = []
        for vendor in self.vendors.values():
            pairs += [(alias, vendor.maker) for alias in vendor.aliases]
            pairs.append((vendor.display.lower(), vendor.maker))
        for brand in self.brands.values():
            pairs += [(brand.brand, brand.brand), (brand.display.lower(), brand.brand)]
        pairs.sort(key=lambda p: -len(p[0]))
        return tuple(
            (re.compile(r"(?<![a-z0-9])" + re.escape(name) + r"(?![a-z0-9])"), ident) for name, ident in pairs
        )

    def known(self, ident: str) -> bool:
        return ident in self.vendors or ident in self.brands

    def maker_of(self, ident: str) -> str | None:
        if ident in self.vendors:
            return ident
        brand = self.brands.get(ident)
        return brand.maker if brand else None


_OUI = re.compile(r"^([0-9A-F]{2}:){2}[0-9A-F]{2}(:[0-9A-F]|:[0-9A-F]{2}:[0-9A-F])?$")
_HEX_PREFIX = re.compile(r"^[0-9A-F]{6}([0-9A-F]|[0-9A-F]{3})?$")
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")


def _rows(name: str, text: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != columns:
        raise TableError(f"{name}: columns {reader.fieldnames} != {list(columns)}")
    rows = []
    for i, row in enumerate(reader, start=2):
        if None in row or any(v is None for v in row.values()):
            raise TableError(f"{name}:{i}: wrong number of fields")
        if not row["source"].strip():
            raise TableError(f"{name}:{i}: source: every row needs one")
        rows.append({k: v.strip() for k, v in row.items()})
    return rows


def _regex(name: str, value: str) -> re.Pattern[str]:
    try:
        return re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise TableError(f"{name}: bad regular expression {value!r}: {exc}") from exc


def _conf(name: str, value: str) -> Confidence:
    try:
        return Confidence(value)
    except ValueError:
        raise TableError(f"{name}: confidence {value!r} not one of high/med/low") from None


def oui_key(prefix: str) -> str:
    return prefix.replace(":", "").upper()


def _ouis(name: str, text: str, vendors: dict[str, Vendor], brands: dict[str, Brand]) -> dict[str, Oui]:
    ouis: dict[str, Oui] = {}
    for r in _rows(name, text, ("prefix", "registrant", "points_to", "kind", "source")):
        key = oui_key(r["prefix"])
        # oui.csv is written by hand as AA:BB:CC[:D[D:E]]; the generated registry as bare hex.
        if not (_HEX_PREFIX if name.endswith(".gz") else _OUI).match(r["prefix"]):
            raise TableError(f"{name}: prefix {r['prefix']!r} is not a 24, 28 or 36-bit prefix")
        try:
            kind = OuiKind(r["kind"])
        except ValueError:
            raise TableError(f"{name}: {r['prefix']}: kind {r['kind']!r} unknown") from None
        if kind is OuiKind.MODULE:
            if r["points_to"]:
                raise TableError(f"{name}: {r['prefix']}: a module prefix points to no maker")
        elif r["points_to"] not in vendors and r["points_to"] not in brands:
            raise TableError(f"{name}: {r['prefix']}: {r['points_to']!r} is neither a vendor nor a brand")
        if key in ouis:
            raise TableError(f"{name}: prefix {r['prefix']} listed twice")
        ouis[key] = Oui(key, r["registrant"], r["points_to"], kind, r["source"])
    return ouis


def parse_tables(files: dict[str, str]) -> Tables:
    """Build and validate the tables from file name -> CSV text."""
    vendors = {}
    for r in _rows(
        "vendors.csv", files["vendors.csv"], ("maker", "display", "restricted", "aliases", "source")
    ):
        if r["restricted"] not in ("true", "false"):
            raise TableError(f"vendors.csv: {r['maker']}: restricted must be true or false")
        aliases = tuple(a.strip().lower() for a in r["aliases"].split("|") if a.strip())
        vendors[r["maker"]] = Vendor(
            r["maker"], r["display"], r["restricted"] == "true", aliases, r["source"]
        )
    brands = {}
    for r in _rows(
        "brands.csv", files["brands.csv"], ("brand", "display", "maker", "confidence", "claim", "source")
    ):
        if r["maker"] not in vendors:
            raise TableError(f"brands.csv: {r['brand']}: maker {r['maker']!r} not in vendors.csv")
        brands[r["brand"]] = Brand(
            r["brand"], r["display"], r["maker"], _conf("brands.csv", r["confidence"]), r["source"]
        )
    ouis = _ouis("oui.csv", files["oui.csv"], vendors, brands)
    # The generated registry fills every prefix the hand-sourced oui.csv does not name.
    for key, row in _ouis("oui_registry.csv.gz", files["oui_registry.csv.gz"], vendors, brands).items():
        ouis.setdefault(key, row)

    def patterns(name: str, columns: tuple[str, ...], label_col: str, where: str = "") -> tuple[Pattern, ...]:
        out = []
        for r in _rows(name, files[name], columns):
            if r["maker"] not in vendors:
                raise TableError(f"{name}: maker {r['maker']!r} not in vendors.csv")
            if where and r["signal"] != where:
                continue
            out.append(
                Pattern(
                    r["maker"],
                    _regex(name, r["pattern"]),
                    r[label_col],
                    _conf(name, r["confidence"]),
                    r["source"],
                )
            )
        return tuple(out)

    fp_cols = ("signal", "pattern", "maker", "confidence", "source")
    for r in _rows("http_fingerprints.csv", files["http_fingerprints.csv"], fp_cols):
        if r["signal"] not in ("server", "title"):
            raise TableError(f"http_fingerprints.csv: signal {r['signal']!r} not server or title")
    clouds = []
    for r in _rows(
        "cloud_domains.csv", files["cloud_domains.csv"], ("domain", "maker", "role", "confidence", "source")
    ):
        if r["maker"] not in vendors or not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", r["domain"]):
            raise TableError(f"cloud_domains.csv: bad row {r['domain']!r}")
        clouds.append(
            CloudDomain(
                r["domain"], r["maker"], r["role"], _conf("cloud_domains.csv", r["confidence"]), r["source"]
            )
        )
    vulns = []
    vuln_cols = ("cve", "maker", "brand", "models", "affected", "kev", "kev_added", "summary", "source")
    for r in _rows("vulnerabilities.csv", files["vulnerabilities.csv"], vuln_cols):
        where = f"vulnerabilities.csv: {r['cve']}"
        if not _CVE.match(r["cve"]) or r["maker"] not in vendors or r["kev"] not in ("true", "false"):
            raise TableError(f"{where}: bad cve, maker or kev")
        if r["brand"] and r["brand"] not in brands:
            raise TableError(f"{where}: brand {r['brand']!r} not in brands.csv")
        if r["kev"] == "true" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["kev_added"]):
            raise TableError(f"{where}: a KEV entry needs kev_added as YYYY-MM-DD")
        try:
            affected = parse_range(r["affected"])
        except RangeError as exc:
            raise TableError(f"{where}: affected: {exc}") from exc
        vulns.append(
            Vulnerability(
                r["cve"],
                r["maker"],
                r["brand"],
                _regex(where, r["models"]),
                affected,
                r["kev"] == "true",
                r["kev_added"],
                r["summary"],
                r["source"],
            )
        )
    creds = []
    for r in _rows(
        "default_credentials.csv",
        files["default_credentials.csv"],
        ("maker", "username", "password", "condition", "source"),
    ):
        if r["maker"] not in vendors or not r["username"]:
            raise TableError(f"default_credentials.csv: bad row for {r['maker']!r}")
        creds.append(DefaultCredential(r["maker"], r["username"], r["password"], r["condition"], r["source"]))
    labels = {}
    for r in _rows("generic_labels.csv", files["generic_labels.csv"], ("label", "makers", "source")):
        makers = tuple(m for m in r["makers"].split("|") if m)
        if not r["label"] or r["label"] != r["label"].lower() or not makers or set(makers) - set(vendors):
            raise TableError(f"generic_labels.csv: bad row {r['label']!r}")
        labels[r["label"]] = GenericLabel(r["label"], makers, r["source"])
    return Tables(
        vendors=vendors,
        brands=brands,
        ouis=ouis,
        model_patterns=patterns(
            "model_patterns.csv", ("maker", "pattern", "kind", "confidence", "source"), "kind"
        ),
        firmware_formats=patterns(
            "firmware_formats.csv", ("maker", "pattern", "example", "confidence", "source"), "example"
        ),
        server_patterns=patterns("http_fingerprints.csv", fp_cols, "signal", "server"),
        title_patterns=patterns("http_fingerprints.csv", fp_cols, "signal", "title"),
        cloud_domains=tuple(clouds),
        vulnerabilities=tuple(vulns),
        default_credentials=tuple(creds),
        generic_labels=labels,
    )


DATA_FILES = (
    "vendors.csv",
    "brands.csv",
    "oui.csv",
    "model_patterns.csv",
    "http_fingerprints.csv",
    "cloud_domains.csv",
    "firmware_formats.csv",
    "vulnerabilities.csv",
    "default_credentials.csv",
    "generic_labels.csv",
    "oui_registry.csv.gz",  # generated by agent/data/tools/build_oui.py
)


def read_data_files() -> dict[str, str]:
    base = resources.files("agent").joinpath("data")
    return {
        name: (
            gzip.decompress(base.joinpath(name).read_bytes()).decode("utf-8")
            if name.endswith(".gz")
            else base.joinpath(name).read_text(encoding="utf-8")
        )
        for name in DATA_FILES
    }


@functools.cache
def load_tables() -> Tables:
    """The bundled tables, parsed and validated once per process."""
    return parse_tables(read_data_files())
