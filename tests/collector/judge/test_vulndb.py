"""KEV catalogue and CVE JSON 5 files parsed, and applied to the identification tables (pure)."""

from __future__ import annotations

import json

import pytest

from agent.identify.firmware import parse_version
from agent.identify.tables import load_tables
from agent.identify.vulns import match_vulnerabilities
from collector.judge.rules import apply_vulndb, product_pattern, version_range
from collector.judge.vulndb import AffectedVersion, CveRecord, VulnDbError, parse_vulndb_file
from tests.collector.judge.samples import cve_record, kev


def test_kev_catalogue_is_read_by_its_shape() -> None:
    vf = parse_vulndb_file(
        kev(("CVE-2022-30563", "2026-11-19"), ("cve-2021-33044", "2024-08-21")), "kev.json"
    )
    assert (vf.kind, vf.version, vf.entries) == ("kev", "2026.11.20", 2)
    assert [(e.cve, e.date_added) for e in vf.kev] == [
        ("CVE-2021-33044", "2024-08-21"),
        ("CVE-2022-30563", "2026-11-19"),
    ]


def test_cve_records_one_or_a_list() -> None:
    one = cve_record("CVE-2026-0001", "Dahua", "IPC-HFW9XXX", [{"version": "0", "status": "affected"}])
    vf = parse_vulndb_file(json.dumps(one).encode(), "one.json")
    assert vf.kind == "cve" and [r.cve for r in vf.cves] == ["CVE-2026-0001"]
    assert vf.cves[0].summary.startswith("CVE-2026-0001: a test flaw")
    both = parse_vulndb_file(
        json.dumps([one, {**one, "cveMetadata": {"cveId": "CVE-2026-0002"}}]).encode(), "l"
    )
    assert [r.cve for r in both.cves] == ["CVE-2026-0001", "CVE-2026-0002"]
    assert CveRecord.from_json(vf.cves[0].to_json()) == vf.cves[0]  # as stored and read back


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"{not json", "not JSON"),
        (b'{"something": "else"}', "neither a KEV catalogue"),
        (b"[]", "neither a KEV catalogue"),
        (b'{"catalogVersion": "1", "vulnerabilities": {}}', "vulnerabilities: expected a list"),
        (
            b'{"catalogVersion": "1", "vulnerabilities": [{"cveID": "CVE-1", "dateAdded": "2024-01-01"}]}',
            "is not a CVE id",
        ),
        (
            b'{"catalogVersion": "1", "vulnerabilities": [{"cveID": "CVE-2024-1234", "dateAdded": "soon"}]}',
            "dateAdded",
        ),
        (b'{"dataType": "CVE_RECORD", "cveMetadata": {"cveId": "CVE-2024-1234"}}', "containers.cna"),
    ],
)
def test_unusable_files_name_the_problem(data: bytes, problem: str) -> None:
    with pytest.raises(VulnDbError, match=problem) as err:
        parse_vulndb_file(data, "f.json")
    assert str(err.value).startswith("f.json: ")


def test_product_and_version_readings() -> None:
    hfw = product_pattern("IPC-HFW2XXX")
    assert hfw is not None and hfw.search("DH-IPC-HFW2431S-S-S2") and hfw.search("IPC-HFW2431S")
    assert not hfw.search("IPC-HFW1230S")
    xvr = product_pattern("XVR5xxx, NVR41XX")
    assert (
        xvr is not None and xvr.search("XVR5108HS") and xvr.search("DH-NVR4104") and not xvr.search("VR5108")
    )
    assert product_pattern("IP Camera Firmware") is None  # names no model number
    before = version_range(AffectedVersion("Versions with Build time before April, 2022", "affected"))
    assert before is not None and [(c.op, c.build) for c in before] == [("build<", 220401)]
    bounded = version_range(AffectedVersion("V5.5.0", "affected", less_than="V5.5.800 build 210628"))
    assert bounded is not None and [c.op for c in bounded] == [">=", "<"]
    assert version_range(AffectedVersion("1.0", "unaffected")) is None
    assert version_range(AffectedVersion("whatever text", "affected")) is None


def test_kev_listing_flags_a_known_cve_and_readable_records_add_rows() -> None:
    tables = load_tables()
    assert not any(v.kev for v in tables.vulnerabilities if v.cve == "CVE-2022-30563")
    new = cve_record(
        "CVE-2026-0001",
        "Zhejiang Dahua Technology Co., Ltd.",
        "IPC-HDW1XXX",
        [{"version": "Versions with Build time before June, 2023", "status": "affected"}],
    )
    vague = cve_record("CVE-2026-0002", "Dahua", "Some products", [{"version": "all", "status": "affected"}])
    known = cve_record("CVE-2022-30563", "Dahua", "IPC-HXXX", [{"version": "0", "status": "affected"}])
    stranger = cve_record("CVE-2026-0003", "Nobody Inc", "AB-1234", [{"version": "0", "status": "affected"}])
    records = [parse_vulndb_file(json.dumps(r).encode(), "r").cves[0] for r in (new, vague, known, stranger)]
    kev_file = parse_vulndb_file(kev(("CVE-2022-30563", "2026-11-19"), ("CVE-2026-0001", "2026-11-20")), "k")
    applied = apply_vulndb(tables, kev_file.kev, records)
    assert applied.imported_rules == 1 and len(applied.unreadable) == 2
    assert "CVE-2026-0002: product 'Some products' names no model number" in applied.unreadable
    assert any("Nobody Inc" in u for u in applied.unreadable)
    matched = match_vulnerabilities(
        applied.tables,
        maker="dahua",
        brand="dahua",
        model="IPC-HFW2431S-S-S2",
        firmware="2.800.0000000.8.R, Build Date 2021-06-30",
    )
    assert [(v.cve, v.kev) for v in matched] == [("CVE-2022-30563", True)]  # KEV now, table range kept
    eyeball = match_vulnerabilities(
        applied.tables,
        maker="dahua",
        brand=None,
        model="IPC-HDW1230T1-S5",
        firmware="2.800.0000000.8.R.230101",
    )
    assert [(v.cve, v.kev) for v in eyeball] == [("CVE-2026-0001", True)]
    later = parse_version("2.800.0000000.8.R.230701")
    assert later is not None and later.build == 230701
    assert not match_vulnerabilities(
        applied.tables,
        maker="dahua",
        brand=None,
        model="IPC-HDW1230T1-S5",
        firmware="2.800.0000000.8.R.230701",
    )
    assert apply_vulndb(tables, (), ()).tables.vulnerabilities == tables.vulnerabilities  # nothing imported
