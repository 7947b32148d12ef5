"""The IEEE registry as the agent ships it (generated), and what a MAC does to the verdict."""

from __future__ import annotations

from pathlib import Path

from agent.data.tools import build_oui
from agent.identify.classify import Signal, Signals, classify
from agent.identify.tables import OuiKind, load_tables

T = load_tables()


def test_the_registry_maps_registrants_to_makers_and_marks_module_makers() -> None:
    by_kind = {kind: [o for o in T.ouis.values() if o.kind is kind] for kind in OuiKind}
    assert len(T.ouis) > 1000
    assert len(by_kind[OuiKind.MODULE]) > 500
    assert all(o.points_to == "" for o in by_kind[OuiKind.MODULE])
    assert {o.registrant.split()[0] for o in by_kind[OuiKind.MODULE]} >= {"Espressif", "AzureWave"}
    assert T.ouis["083A8D"].kind is OuiKind.MODULE  # Espressif Inc.
    assert T.ouis["6CF17E"].points_to == "uniview"  # Zhejiang Uniview: not Dahua
    assert T.ouis["20BBBC"].points_to == "ezviz"  # Hangzhou Ezviz Software: a Hikvision brand
    assert all(o.source for o in T.ouis.values())
    registry = [o for o in T.ouis.values() if "via" in o.source]
    assert registry and all(o.source.startswith("IEEE ") for o in registry)
    assert any(len(o.prefix) == 7 for o in T.ouis.values()) and any(
        len(o.prefix) == 9 for o in T.ouis.values()
    )


def test_a_wifi_module_mac_says_nothing_and_the_next_mac_still_speaks() -> None:
    alone = classify(Signals(mac="08:3a:8d:00:00:01"), T)
    assert alone.maker is None and [e.weight for e in alone.evidence] == [0.0]
    assert "no evidence" in alone.evidence[0].value
    both = classify(Signals(mac="08:3a:8d:00:00:01", macs=("e0:50:8b:00:00:02",)), T)
    assert both.maker == "dahua"
    assert [(e.signal, e.points_to) for e in both.evidence if e.weight] == [(Signal.MAC_OUI, "dahua")]


def test_an_unrestricted_makers_mac_clears_a_device_that_says_nothing_else() -> None:
    ident = classify(Signals(mac="00:02:d1:89:1c:65"), T)  # Vivotek, Inc.
    assert (ident.maker, str(ident.restricted)) == ("vivotek", "no")
    uniview = classify(Signals(mac="6c:f1:7e:00:00:01"), T)
    assert uniview.maker == "uniview" and str(uniview.restricted) == "no"


def test_the_generator_keeps_matched_prefixes_and_prefers_the_newer_copy(tmp_path: Path) -> None:
    rules = build_oui.read_rules(
        "pattern,points_to,kind,source\n^Zhejiang Dahua,dahua,maker,x\n^Espressif,,module,x\n"
    )
    netaddr = build_oui.netaddr_registry(
        "E0508B     (base 16)\t\tZhejiang Dahua Technology Co., Ltd.\n"
        "083A8D     (base 16)\t\tEspressif Inc.\n"
        "001122     (base 16)\t\tSomebody Else\n"
    )
    ieee = {
        "E0508B": ("MA-L", "Zhejiang Dahua Technology Co., Ltd. (old name)"),
        "402C761": ("MA-M", "Other"),
    }
    rows = build_oui.build(rules, netaddr, ieee, "netaddr 9", "ieee-data 1")
    assert rows == [
        ("083A8D", "Espressif Inc.", "", "module", "IEEE MA-L via netaddr 9"),
        ("E0508B", "Zhejiang Dahua Technology Co., Ltd.", "dahua", "maker", "IEEE MA-L via netaddr 9"),
    ]
    assert build_oui.render(rows) == build_oui.render(rows)  # deterministic bytes
