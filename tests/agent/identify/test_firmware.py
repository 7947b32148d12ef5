"""Per-vendor firmware parsing and range matching; CVE matching on the bundled table."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.identify.classify import Signals, classify
from agent.identify.firmware import (
    RangeError,
    Scheme,
    Version,
    in_range,
    parse_range,
    parse_version,
    scheme_for,
)
from agent.identify.tables import load_tables
from agent.identify.vulns import match_vulnerabilities

VERSIONS = Path(__file__).parents[2] / "fixtures" / "identities" / "firmware_versions.csv"


def _version_rows() -> list[dict[str, str]]:
    with VERSIONS.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("row", _version_rows(), ids=lambda r: f"{r['maker']}:{r['firmware']}")
def test_real_version_strings_parse_by_the_makers_scheme(row: dict[str, str]) -> None:
    assert row["source"].strip()
    v = parse_version(row["firmware"], scheme_for(row["maker"]))
    assert v is not None
    expected = (
        Scheme(row["scheme"]),
        tuple(int(n) for n in row["parts"].split(".")),
        int(row["build"]) if row["build"] else None,
        row["branch"],
    )
    assert (v.scheme, v.parts, v.build, v.branch) == expected


def test_the_table_covers_every_form_issue_13_names() -> None:
    forms = {r["firmware"] for r in _version_rows()}
    assert any(", Build Date " in f for f in forms) and any(",build:" in f for f in forms)
    assert any("Build Date: " in f for f in forms) and any(f.endswith(".R") for f in forms)
    assert any(f.startswith("V") and "build" not in f for f in forms if f.count(".") == 2)
    real = [r for r in _version_rows() if not r["source"].startswith("constructed")]
    assert len(real) >= 25


def test_a_string_outside_the_makers_scheme_claims_no_build_or_branch() -> None:
    v = parse_version("2.800.0000000.8.R, Build Date 2021-06-30", Scheme.HIKVISION)
    assert v is not None and v.scheme is Scheme.GENERIC and v.build is None and v.branch == ""
    assert parse_version("V5.5.61 build 190924", Scheme.DAHUA) == Version((5, 5, 61))
    # Without a maker only the Dahua shape is recognised; a leading V decides nothing.
    sniffed = parse_version("V2.622.0000000.31.R, Build Date: 2019-08-01")
    assert sniffed is not None and sniffed.scheme is Scheme.DAHUA and sniffed.build == 190801
    assert parse_version("v2.21.02") == Version((2, 21, 2))
    assert parse_version("2.800.0000000.8.R, Build Date 2021-13-40", Scheme.DAHUA) == Version(
        (2, 800, 8), None, "2.800.0000000", Scheme.DAHUA
    )


def test_ranges() -> None:
    r = parse_range(">=V5.2.0 build 140721,<=V5.4.0 build 160530")
    assert in_range(parse_version("V5.2.0 build 140721"), r)  # type: ignore[arg-type]
    assert in_range(parse_version("V5.4.0 build 160530"), r)  # type: ignore[arg-type]
    assert not in_range(parse_version("V5.4.0 build 160531"), r)  # type: ignore[arg-type]
    assert not in_range(parse_version("V5.5.61 build 180718"), r)  # type: ignore[arg-type]
    dahua = parse_range("branch=2.800.0000000,build<200314")
    assert in_range(parse_version("2.800.0000000.5.R.191203"), dahua)  # type: ignore[arg-type]
    assert not in_range(parse_version("2.800.0000000.6.R.200314"), dahua)  # type: ignore[arg-type]
    assert not in_range(parse_version("2.800.00AC000.0.R.190101"), dahua)  # type: ignore[arg-type]
    for bad in ["", "=V1", ">=", "build<21", "branch=x", ">=nothing"]:
        with pytest.raises(RangeError):
            parse_range(bad)


@given(st.text(max_size=60))
def test_any_firmware_string_parses_or_is_none(text: str) -> None:
    parse_version(text)


def _cves(maker: str, model: str, firmware: str, brand: str | None = None) -> list[tuple[str, bool]]:
    found = match_vulnerabilities(
        load_tables(), maker=maker, brand=brand or maker, model=model, firmware=firmware
    )
    return [(v.cve, v.kev) for v in found]


def test_vulnerable_firmware_gets_the_right_cves_and_fixed_firmware_none() -> None:
    assert _cves("hikvision", "DS-2CD2142FWD-IS", "V5.4.0 build 160401") == [
        ("CVE-2021-36260", True),
        ("CVE-2017-7921", False),
        ("CVE-2017-7923", False),
    ]
    assert _cves("hikvision", "DS-2CD2143G0-I", "V5.5.61 build 180718") == [("CVE-2021-36260", True)]
    assert _cves("hikvision", "DS-2CD2143G0-I", "V5.5.800 build 210628") == []
    assert _cves("hikvision", "DS-2CD2143G0-I", "V5.7.3 build 220112") == []
    assert ("CVE-2021-33044", True) in _cves("dahua", "IPC-HDBW3441R-ZS", "2.800.0000000.18.R.210301")
    assert _cves("dahua", "IPC-HDBW3441R-ZS", "2.800.0000000.20.R.210615") == []
    assert [c for c, _ in _cves("dahua", "IPC-HDBW2431E-S", "2.800.0000000.9.R.220301")] == ["CVE-2022-30563"]
    assert _cves("dahua", "IPC-HDBW2431E-S", "2.800.0000000.9.R.220405") == []
    assert _cves("dahua", "IP2M-841B", "2.800.0000000.5.R.191203", brand="amcrest") == [
        ("CVE-2020-5735", True)
    ]
    assert _cves("dahua", "IP2M-841B", "2.800.0000000.6.R.200314", brand="amcrest") == []
    assert _cves("axis", "M5525-E", "8.40.1.1") == []


@pytest.mark.parametrize(
    "firmware",
    [
        "2.800.0000000.8.R, Build Date 2021-06-30",
        "2.800.0000000.8.R,build:2021-06-30",
        "V2.622.0000000.31.R, Build Date: 2019-08-01",
    ],
)
def test_dahua_build_dates_written_out_match_the_build_date_rules(firmware: str) -> None:
    assert ("CVE-2022-30563", False) in _cves("dahua", "IPC-HFW2431T-ZS", firmware)


def test_without_a_build_date_a_build_date_rule_cannot_claim() -> None:
    assert _cves("dahua", "IPC-HFW2431T-ZS", "2.800.0000000.8.R") == []
    assert _cves("dahua", "IPC-HFW2431T-ZS", "2.800.0000000.8.R, Build Date 2022-04-02") == []


def test_hikvision_without_build_is_judged_on_its_numbers() -> None:
    # CVE-2021-36260 needs a build before 210628: without one it cannot be claimed.
    assert _cves("hikvision", "DS-2CD2346G2-IU", "V5.7.15") == []
    assert ("CVE-2021-36260", True) in _cves("hikvision", "DS-2CD2346G2-IU", "V5.5.61 build 190924")


def test_done_when_a_dahua_ipc_hfw2xxx_with_a_written_build_date_matches_cve_2022_30563() -> None:
    tables = load_tables()
    signals = Signals(
        "Dahua", "IPC-HFW2431T-ZS", "2.800.0000000.8.R, Build Date 2021-06-30", mac="e0:50:8b:00:00:01"
    )
    ident = classify(signals, tables)
    assert ident.maker == "dahua" and str(ident.restricted) == "yes"
    found = match_vulnerabilities(
        tables, maker=ident.maker, brand=ident.brand, model=signals.model, firmware=signals.firmware
    )
    assert "CVE-2022-30563" in {v.cve for v in found}
