"""Register CSV parsing (pure) and import through the CLI: headers, notations, bad rows, re-import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.cli import main
from collector.register import (
    RegisterError,
    normalise_date,
    normalise_mac,
    parse_mapping,
    parse_register,
)
from tests.support.demo_estate import DemoEstate, demo_estate


@pytest.mark.parametrize(
    "text",
    ["44:19:B6:13:6B:49", "4419.b613.6b49", "44-19-b6-13-6b-49", "4419B6136B49", " 44:19:b6:13:6b:49 "],
)
def test_mac_in_any_notation(text: str) -> None:
    assert normalise_mac(text) == "44:19:b6:13:6b:49"


def test_bad_mac_and_dates() -> None:
    with pytest.raises(ValueError, match="12 hexadecimal"):
        normalise_mac("44:19:b6")
    assert normalise_date("14/03/2021") == "2021-03-14"  # UK order
    assert normalise_date("2021-03-14") == "2021-03-14"
    with pytest.raises(ValueError, match="not a date"):
        normalise_date("March 2021")


def test_headers_recognised_case_and_space_insensitively() -> None:
    text = (
        "ASSET TAG, site ,Make,model,serial_number,Mac-Address,ip address,Purchase Date,SUPPLIER,Colour\n"
        "T1,hq,Hikvision,DS-1,S1,4419b6136b49,10.0.0.5,01/02/2020,Acme,grey\n"
    )
    parsed = parse_register(text)
    assert not parsed.errors
    (asset,) = parsed.assets
    assert (asset.asset_tag, asset.site, asset.make, asset.serial) == ("T1", "hq", "Hikvision", "S1")
    assert (asset.mac, asset.ip, asset.purchase_date, asset.supplier) == (
        "44:19:b6:13:6b:49",
        "10.0.0.5",
        "2020-02-01",
        "Acme",
    )
    assert parsed.ignored == ("Colour",)


def test_bad_rows_reported_by_line_and_the_rest_kept() -> None:
    text = (
        "asset id,location,mac\n"
        "A1,hq,44:19:b6:13:6b:49\n"
        "A2,hq,not-a-mac\n"
        ",hq,44:19:b6:13:6b:4a\n"
        "A1,hq,44:19:b6:13:6b:4b\n"
        "A3,hq,\n"
        "A4,hq,44:19:b6:13:6b:4c\n"
    )
    parsed = parse_register(text)
    assert [a.asset_tag for a in parsed.assets] == ["A1", "A4"]
    assert [(e.line, e.message.split(" ")[0]) for e in parsed.errors] == [
        (3, "MAC"),
        (4, "no"),
        (5, "asset"),
        (6, "no"),
    ]


def test_map_names_columns_the_aliases_do_not_know() -> None:
    text = "Kit No,Building,Hardware Address\nK1,hq,4419b6136b49\n"
    with pytest.raises(RegisterError, match="asset tag"):
        parse_register(text)
    parsed = parse_register(
        text, parse_mapping(["Kit No=asset_tag", "building=site", "hardware address=mac"])
    )
    assert parsed.assets[0].mac == "44:19:b6:13:6b:49" and parsed.assets[0].site == "hq"
    with pytest.raises(RegisterError, match="not a field"):
        parse_mapping(["Kit No=colour"])


def test_import_replaces_the_register(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    estate: DemoEstate = demo_estate(tmp_path, register=False)
    first = tmp_path / "first.csv"
    first.write_text("Asset Tag,Site,Serial\nX1,demo-hq,S-1\nX2,demo-hq,S-2\nX3,demo-hq,\n")
    assert main(["--config", str(estate.config), "register", "import", str(first)]) == 0
    captured = capsys.readouterr()
    assert "imported 2 assets" in captured.out and "line 4:" in captured.err
    second = tmp_path / "second.csv"
    second.write_text("Asset Tag,Site,Serial\nY1,demo-hq,S-9\n")
    assert main(["--config", str(estate.config), "register", "import", str(second)]) == 0
    capsys.readouterr()
    assert main(["--config", str(estate.config), "register", "list", "--format", "json"]) == 0
    assert [a["asset_tag"] for a in json.loads(capsys.readouterr().out)] == ["Y1"]


def test_a_file_that_is_no_register_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    estate = demo_estate(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Colour\nx,y\n")
    assert main(["--config", str(estate.config), "register", "import", str(bad)]) == 1
    assert "no asset tag column" in capsys.readouterr().err
    assert main(["--config", str(estate.config), "register", "list", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 6
