"""Every report, from the CLI, in all four formats, carries the same figures."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser

import pytest

from collector.cli import main
from collector.reports.catalog import REPORTS
from tests.support.demo_estate import DemoEstate


def run(capsys: pytest.CaptureFixture[str], estate: DemoEstate, *argv: str) -> str:
    assert main(["--config", str(estate.config), *argv]) == 0
    return capsys.readouterr().out


class _Figures(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self._name: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._name = dict(attrs).get("data-figure")

    def handle_data(self, data: str) -> None:
        if self._name:
            self.figures[self._name] = data.strip()
            self._name = None


def html_figures(text: str) -> dict[str, int]:
    parser = _Figures()
    parser.feed(text)
    return {k: int(v) for k, v in parser.figures.items()}


def table_figures(text: str, names: list[str]) -> dict[str, int]:
    out = {}
    for name in names:
        m = re.search(rf"(?:^|  ){re.escape(name.replace('_', ' '))}: (\d+)", text, re.M)
        assert m, f"{name} not in the table output"
        out[name] = int(m.group(1))
    return out


def csv_figures(text: str) -> dict[str, int]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return {r["figure"]: int(r["value"]) for r in rows if r["section"] == "figures"}


@pytest.mark.parametrize("name", [r for r in REPORTS if r != "compliance"])
def test_four_formats_carry_the_same_figures(
    name: str, estate: DemoEstate, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(run(capsys, estate, "report", name, "--format", "json"))
    figures = doc["figures"]
    assert figures and all(isinstance(v, int) for v in figures.values())
    assert html_figures(run(capsys, estate, "report", name, "--format", "html")) == figures
    assert table_figures(run(capsys, estate, "report", name), list(figures)) == figures
    text = run(capsys, estate, "report", name, "--format", "csv")
    if len(doc["sections"]) > 1:
        assert csv_figures(text) == figures
    else:  # one table: its rows are the devices the first figure counts
        assert len(list(csv.DictReader(io.StringIO(text)))) == next(iter(figures.values()))


def test_compliance_html_matches_its_json(estate: DemoEstate, capsys: pytest.CaptureFixture[str]) -> None:
    totals = json.loads(run(capsys, estate, "report", "compliance", "--format", "json"))["totals"]
    figures = html_figures(run(capsys, estate, "report", "compliance", "--format", "html"))
    assert figures["devices"] == totals["devices"] == 8
    assert figures["restricted"] == totals["restricted"] == 6
    assert figures["past_deadline"] == totals["past_deadline"]
    assert figures["open_violations"] == sum(totals["open_by_severity"].values())


def test_inventory_filters_and_columns(estate: DemoEstate, capsys: pytest.CaptureFixture[str]) -> None:
    every = json.loads(run(capsys, estate, "report", "inventory", "--format", "json"))
    rows = every["sections"][0]["rows"]
    assert len(rows) == 8
    lobby = next(r for r in rows if r["address"] == "127.20.0.1:8080")
    assert lobby["restricted"] == "yes" and lobby["department"] == "Demo Department"
    assert lobby["asset_tag"] == "CAM-0001" and lobby["purchase_date"] == "2021-03-14"
    assert "CVE-2021-36260" in lobby["cves"] and "vulnerable_firmware" in lobby["findings"]
    assert re.fullmatch(r"demo-pi/[0-9a-f]+/\d+", lobby["evidence"])

    def count(*argv: str) -> int:
        doc = json.loads(run(capsys, estate, "report", "inventory", "--format", "json", *argv))
        return int(doc["figures"]["devices"])

    assert count("--restricted") == 6
    assert count("--no-restricted") == 2
    assert count("--maker", "dahua") == 3  # Dahua, and the Amcrest and Lorex it makes
    assert count("--maker", "hilook") == 1  # the label works too
    assert count("--site", "elsewhere") == 0
    assert count("--department", "demo department", "--maker", "hikvision") == 3


def test_violations_and_audit_as_csv_and_json(estate: DemoEstate, capsys: pytest.CaptureFixture[str]) -> None:
    listed = json.loads(run(capsys, estate, "violations", "--format", "json"))
    # 17 of placement, firmware, clock and identity, and 5 of weak authentication (the two cameras
    # that answer without credentials, the two replayable-digest Dahua-made ones and the factory
    # password) now that the rule keys on the finding kinds the agent emits.
    assert len(listed) == 22
    weak = [v["detail"]["kind"] for v in listed if v["rule"] == "weak_authentication"]
    assert sorted(weak) == [
        "default_credentials",
        "replayed_digest_accepted",
        "replayed_digest_accepted",
        "unauthenticated_access",
        "unauthenticated_access",
    ]
    rows = list(csv.DictReader(io.StringIO(run(capsys, estate, "violations", "--format", "csv"))))
    assert {r["id"] for r in rows} == {v["id"] for v in listed}
    vid = listed[0]["id"]
    run(capsys, estate, "ack", vid, "--reason", "seen", "--by", "tester")
    trail = json.loads(run(capsys, estate, "audit", vid, "--format", "json"))
    assert [e["who"] for e in trail][-1] == "tester"
    assert (
        list(csv.DictReader(io.StringIO(run(capsys, estate, "audit", vid, "--format", "csv"))))[-1]["who"]
        == "tester"
    )
