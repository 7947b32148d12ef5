"""The data files: every row sourced, OUIs, regexes and firmware ranges well formed."""

from __future__ import annotations

import csv
import io
import re

import pytest

from agent.identify.tables import DATA_FILES, TableError, load_tables, parse_tables, read_data_files


def test_every_row_of_every_file_has_a_source() -> None:
    files = read_data_files()
    for name in DATA_FILES:
        rows = list(csv.DictReader(io.StringIO(files[name])))
        assert rows, name
        for i, row in enumerate(rows, start=2):
            assert row["source"] and row["source"].strip(), f"{name}:{i}"


def test_tables_load_and_cover_the_vendor_facts() -> None:
    t = load_tables()
    makers = [o.points_to for o in t.ouis.values() if o.kind == "maker"]
    assert makers.count("hikvision") == 81 and makers.count("dahua") == 31  # vendor-facts.md §1
    assert t.vendors["hikvision"].restricted and t.vendors["dahua"].restricted
    assert not any(v.restricted for k, v in t.vendors.items() if k not in ("hikvision", "dahua"))
    assert {b.brand for b in t.brands.values() if b.maker == "hikvision"} >= {
        "ezviz",
        "hilook",
        "hiwatch",
        "annke",
    }
    assert {b.brand for b in t.brands.values() if b.maker == "dahua"} >= {"lorex", "amcrest", "imou"}
    kev = {v.cve for v in t.vulnerabilities if v.kev}
    assert kev == {"CVE-2021-36260", "CVE-2021-33044", "CVE-2021-33045", "CVE-2020-5735"}  # KEV 2025.08.25


def test_ouis_are_well_formed_and_unique() -> None:
    for prefix in load_tables().ouis:
        assert re.fullmatch(r"[0-9A-F]{6}([0-9A-F]|[0-9A-F]{3})?", prefix)


def _replace(name: str, old: str, new: str) -> dict[str, str]:
    files = read_data_files()
    assert old in files[name]
    files[name] = files[name].replace(old, new, 1)
    return files


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        ("oui.csv", "00:BC:99,", "00:BC:9,", "prefix"),
        ("oui.csv", "00:BC:99,", "00-BC-99,", "prefix"),
        ("oui.csv", "nmap/nmap:nmap-mac-prefixes@943b0253\n", "\n", "source"),
        ("vulnerabilities.csv", "<=V5.4.0 build 160530", "<=V5.4.0 bild 160530", "affected"),
        ("vulnerabilities.csv", "build<210601", "build<2106", "affected"),
        ("vulnerabilities.csv", "CVE-2017-7921", "CVE-17-7921", "cve"),
        ("model_patterns.csv", r"^DS-2C[DE]\S*", r"^DS-2C[DE\S*", "regular expression"),
        ("brands.csv", "ezviz,EZVIZ,hikvision", "ezviz,EZVIZ,hikvisoin", "maker"),
    ],
)
def test_malformed_rows_are_refused(name: str, old: str, new: str, message: str) -> None:
    with pytest.raises(TableError, match=message):
        parse_tables(_replace(name, old, new))
