"""Per-vendor firmware parsing and range matching; CVE matching on the bundled table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.identify.firmware import RangeError, Scheme, in_range, parse_range, parse_version
from agent.identify.tables import load_tables
from agent.identify.vulns import match_vulnerabilities


@pytest.mark.parametrize(
    ("text", "scheme", "parts", "build", "branch"),
    [
        ("V5.4.5 build 170123", Scheme.HIKVISION, (5, 4, 5), 170123, ""),
        ("V5.5.800 build 210628", Scheme.HIKVISION, (5, 5, 800), 210628, ""),
        ("V2.3.8-8", Scheme.HIKVISION, (2, 3, 8, 8), None, ""),
        ("2.800.0000000.6.R.200314", Scheme.DAHUA, (2, 800, 6), 200314, "2.800.0000000"),
        ("2.420.AC00.18.R.20200217", Scheme.DAHUA, (2, 420, 18), 200217, "2.420.AC00"),
        ("8.40.1.1", Scheme.GENERIC, (8, 40, 1, 1), None, ""),
        ("01.16.42-20180912", Scheme.GENERIC, (1, 16, 42, 20180912), None, ""),
    ],
)
def test_versions(text: str, scheme: Scheme, parts: tuple[int, ...], build: int | None, branch: str) -> None:
    v = parse_version(text)
    assert v is not None
    assert (v.scheme, v.parts, v.build, v.branch) == (scheme, parts, build, branch)


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
