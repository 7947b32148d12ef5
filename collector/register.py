"""The asset register as departments keep it: CSV in, typed assets out, kept in the database.

``parse_register(text, mapping)`` is pure: headers are recognised case-, space- and
punctuation-insensitively (``Asset Tag``, ``asset_id``, ``MAC Address`` ...), anything else is
named with ``--map COLUMN=FIELD``; a bad row becomes a ``RowError`` with its line number and the
other rows are kept. ``RegisterStore.replace`` swaps the whole register in one transaction, so a
re-import replaces the previous one and a failed import leaves it as it was.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from collector.store.transaction import Database

FIELDS = ("asset_tag", "site", "make", "model", "serial", "mac", "ip", "purchase_date", "supplier")
# Normalised header (lower case, letters and digits only) -> field.
HEADER_ALIASES: Mapping[str, str] = {
    "assettag": "asset_tag", "assetid": "asset_tag", "assetnumber": "asset_tag", "tag": "asset_tag",
    "site": "site", "location": "site",
    "make": "make", "manufacturer": "make", "brand": "make", "vendor": "make",
    "model": "model",
    "serial": "serial", "serialnumber": "serial", "serialno": "serial",
    "mac": "mac", "macaddress": "mac",
    "ip": "ip", "ipaddress": "ip",
    "purchasedate": "purchase_date", "purchased": "purchase_date", "dateofpurchase": "purchase_date",
    "supplier": "supplier",
}  # fmt: skip
MAX_REGISTER_BYTES = 32 * 1024 * 1024  # a register of 100,000 assets is a few MB
MAX_FIELD_CHARS = 256


class RegisterError(ValueError):
    """The file as a whole cannot be read as a register (no header, unknown --map field...)."""


@dataclass(frozen=True)
class Asset:
    asset_tag: str
    site: str = ""
    make: str = ""
    model: str = ""
    serial: str = ""
    mac: str = ""
    ip: str = ""
    purchase_date: str = ""
    supplier: str = ""
    line: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class ParsedRegister:
    assets: tuple[Asset, ...]
    errors: tuple[RowError, ...]
    columns: dict[str, str]  # header as written -> field
    ignored: tuple[str, ...]  # headers no field was found for


def normalise_header(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def normalise_mac(text: str) -> str:
    """Any notation (``44:19:B6:..``, ``4419.b613.6b49``, ``44-19-b6-..``, bare hex) -> ``44:19:b6:..``."""
    digits = re.sub(r"[\s:.\-]", "", text.strip()).lower()
    if not re.fullmatch(r"[0-9a-f]{12}", digits):
        raise ValueError(f"MAC address {text!r} is not 12 hexadecimal digits")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def normalise_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise ValueError(f"IP address {text!r} is not an IPv4 or IPv6 address") from None


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%Y/%m/%d", "%d-%m-%Y", "%d.%m.%Y")


def normalise_date(text: str) -> str:
    """ISO ``YYYY-MM-DD``; registers kept in the UK write ``DD/MM/YYYY``, which is taken as such."""
    value = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date().isoformat()
        except ValueError:
            continue
    raise ValueError(f"purchase date {text!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)")


def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """``--map COLUMN=FIELD`` options into {normalised column: field}."""
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, target = item.partition("=")
        target = target.strip().lower().replace(" ", "_")
        if not sep or not column.strip():
            raise RegisterError(f"--map {item!r}: write COLUMN=FIELD")
        if target not in FIELDS:
            raise RegisterError(f"--map {item!r}: {target!r} is not a field; use one of {', '.join(FIELDS)}")
        mapping[normalise_header(column)] = target
    return mapping


def _columns(header: Sequence[str], mapping: Mapping[str, str]) -> tuple[dict[int, str], dict[str, str]]:
    by_index: dict[int, str] = {}
    named: dict[str, str] = {}
    for index, name in enumerate(header):
        key = normalise_header(name)
        target = mapping.get(key) or HEADER_ALIASES.get(key)
        if target is None or target in by_index.values():
            continue
        by_index[index] = target
        named[name] = target
    return by_index, named


def _asset(values: dict[str, str], line: int) -> Asset:
    for name, value in values.items():
        if len(value) > MAX_FIELD_CHARS:
            raise ValueError(f"{name} is longer than {MAX_FIELD_CHARS} characters")
    if not values.get("asset_tag"):
        raise ValueError("no asset tag")
    fields = dict(values)
    if fields.get("mac"):
        fields["mac"] = normalise_mac(fields["mac"])
    if fields.get("ip"):
        fields["ip"] = normalise_ip(fields["ip"])
    if fields.get("purchase_date"):
        fields["purchase_date"] = normalise_date(fields["purchase_date"])
    if not (fields.get("mac") or fields.get("serial") or fields.get("ip")):
        raise ValueError("no MAC address, serial number or IP address to recognise the device by")
    return Asset(**fields, line=line)


def parse_register(text: str, mapping: Mapping[str, str] | None = None) -> ParsedRegister:
    """Assets from register CSV; rows with problems come back as errors, the rest as assets."""
    if len(text) > MAX_REGISTER_BYTES:
        raise RegisterError(f"register is larger than {MAX_REGISTER_BYTES // (1024 * 1024)} MiB")
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise RegisterError("the file is empty (no header row)") from None
    except csv.Error as exc:
        raise RegisterError(f"line 1: {exc}") from None
    by_index, named = _columns(header, mapping or {})
    if "asset_tag" not in by_index.values():
        raise RegisterError(
            "no asset tag column (headers: " + ", ".join(repr(h) for h in header) + "); "
            "name it with --map COLUMN=asset_tag"
        )
    assets: list[Asset] = []
    errors: list[RowError] = []
    tags: dict[str, int] = {}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(reader.line_num, str(exc)))
            continue
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        values = {f: row[i].strip() for i, f in by_index.items() if i < len(row)}
        try:
            asset = _asset(values, line)
        except ValueError as exc:
            errors.append(RowError(line, str(exc)))
            continue
        if asset.asset_tag in tags:
            errors.append(
                RowError(line, f"asset tag {asset.asset_tag!r} already on line {tags[asset.asset_tag]}")
            )
            continue
        tags[asset.asset_tag] = line
        assets.append(asset)
    ignored = tuple(h for h in header if h not in named and h.strip())
    return ParsedRegister(tuple(assets), tuple(errors), named, ignored)


_COLUMNS = (*FIELDS, "line")


class RegisterStore:
    """The imported register in the collector's database (``register_assets``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def replace(self, assets: Sequence[Asset], *, source: str, now: str) -> None:
        """The register becomes exactly ``assets``, in one transaction."""
        with self.db.transaction("replacing the asset register") as tx:
            tx.execute("DELETE FROM register_assets")
            tx.executemany(
                f"INSERT INTO register_assets ({', '.join(_COLUMNS)}, source, imported_at) "
                f"VALUES ({', '.join('?' * (len(_COLUMNS) + 2))})",
                [(*(getattr(a, c) for c in _COLUMNS), source, now) for a in assets],
            )

    def assets(self) -> list[Asset]:
        rows = self.db.read(
            "reading the asset register",
            f"SELECT {', '.join(_COLUMNS)} FROM register_assets ORDER BY asset_tag",
        )
        return [Asset(**{**dict(zip(FIELDS, row[:-1], strict=True)), "line": int(row[-1])}) for row in rows]


def purchase_year(asset: Asset | None) -> int | None:
    if asset is None or not asset.purchase_date:
        return None
    return date.fromisoformat(asset.purchase_date).year
