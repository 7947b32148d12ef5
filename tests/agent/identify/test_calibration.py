"""The calibration matrix of docs/identification.md: one line there is one case here."""

from __future__ import annotations

import pytest

from agent.identify.classify import DEFAULT_THRESHOLD, Restricted, Signals, classify
from agent.identify.tables import load_tables

T = load_tables()
DAHUA_FW = "2.800.0000000.8.R, Build Date 2021-06-30"
HIK_MAC = "44:19:b6:00:00:01"
AMCREST_PROBE = ("onvif://www.onvif.org/name/Amcrest", "onvif://www.onvif.org/hardware/IP2M-841B")

MATRIX = [
    (Signals(model="DS-2CD2143G0-I"), "hikvision", 0.65, Restricted.YES),
    (Signals(model="LNB8973B"), "dahua", 0.52, Restricted.YES),
    (Signals(manufacturer="Annke"), "hikvision", 0.56, Restricted.YES),
    (Signals(manufacturer="Intelbras"), "dahua", 0.56, Restricted.YES),
    (Signals(manufacturer="EZVIZ"), "hikvision", 0.70, Restricted.YES),
    (Signals(manufacturer="Swann"), None, 0.24, Restricted.PROBABLE),
    (Signals(manufacturer="Honeywell"), None, 0.24, Restricted.PROBABLE),
    (Signals(manufacturer="LTS"), "hikvision", 0.56, Restricted.YES),
    (Signals(mac=HIK_MAC), "hikvision", 0.70, Restricted.YES),
    (Signals(firmware=DAHUA_FW), "dahua", 0.40, Restricted.PROBABLE),
    (Signals(manufacturer="General"), None, 0.0, Restricted.UNKNOWN),
    (Signals(manufacturer="General", firmware=DAHUA_FW), "dahua", 0.55, Restricted.YES),
    (Signals(manufacturer="General", mac="e0:50:8b:00:00:01"), "dahua", 0.78, Restricted.YES),
    (Signals(probe_scopes=AMCREST_PROBE), "dahua", 0.54, Restricted.YES),
    (Signals(mac="34:bd:20:00:00:01"), None, 0.15, Restricted.UNKNOWN),
    (Signals(mac="08:3a:8d:00:00:01"), None, 0.0, Restricted.UNKNOWN),
    (Signals("HIKVISION", "DS-2CD2143G0-I", mac=HIK_MAC), "hikvision", 0.97, Restricted.YES),
    (Signals("AXIS", "M3106-L", mac=HIK_MAC), None, 0.26, Restricted.PROBABLE),
    (Signals("AXIS", "DS-2CD2143G0-I"), None, 0.24, Restricted.PROBABLE),
    (Signals(manufacturer="Annke", firmware="2.800.0000000.8.R"), "hikvision", 0.34, Restricted.PROBABLE),
    (Signals(manufacturer="UNIVIEW", mac="6c:f1:7e:00:00:01"), "uniview", 0.91, Restricted.NO),
    (Signals(mac="00:02:d1:00:00:01"), "vivotek", 0.70, Restricted.NO),
    (Signals("AXIS", "M5525-E", http_server="App-webs/"), "axis", 0.62, Restricted.NO),
    (Signals(manufacturer="Acme"), None, 0.0, Restricted.UNKNOWN),
]


@pytest.mark.parametrize(("signals", "maker", "confidence", "restricted"), MATRIX)
def test_calibration_matrix(
    signals: Signals, maker: str | None, confidence: float, restricted: Restricted
) -> None:
    ident = classify(signals, T)
    assert (ident.maker, ident.restricted) == (maker, restricted)
    assert ident.confidence == pytest.approx(confidence, abs=0.005)


def test_one_unopposed_high_or_med_family_or_brand_clears_the_default_threshold_and_low_never_does() -> None:
    for p in T.model_patterns:
        if T.vendors[p.maker].restricted and p.confidence != "low":
            assert 0.65 * p.confidence.factor >= DEFAULT_THRESHOLD, p.regex.pattern
    for b in T.brands.values():
        ident = classify(Signals(manufacturer=b.display), T)
        if b.confidence == "low":
            assert ident.restricted is Restricted.PROBABLE, b.brand
        else:
            assert ident.restricted is Restricted.YES and ident.maker == b.maker, b.brand


def test_conflict_lowers_confidence() -> None:
    alone = classify(Signals(model="DS-2CD2143G0-I"), T).confidence
    opposed = classify(Signals("AXIS", "DS-2CD2143G0-I"), T).confidence
    assert opposed < alone and opposed < DEFAULT_THRESHOLD
