"""Maker of the hardware vs brand on the label, from real captures and rebrand scenarios."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.identify.classify import MIN_REPORTED_CONFIDENCE, Restricted, Signal, Signals, classify
from agent.identify.tables import load_tables
from agent.onvif import soap
from tests.conftest import CAPTURES, read_capture

T = load_tables()


def _from_captures(prefix: str) -> Signals:
    def payload(op: str) -> soap.Element:
        return soap.body_payload(soap.parse_xml(read_capture(f"{prefix}_{op}.xml")))

    info = soap.parse_device_information(payload("GetDeviceInformation"))
    macs = (
        [n.mac for n in soap.parse_network_interfaces(payload("GetNetworkInterfaces"))]
        if (CAPTURES / f"{prefix}_GetNetworkInterfaces.xml").exists()
        else [""]
    )
    scopes = (
        soap.parse_scopes(payload("GetScopes")) if (CAPTURES / f"{prefix}_GetScopes.xml").exists() else []
    )
    return Signals(info.manufacturer, info.model, info.firmware, info.serial, macs[0], scopes)


@pytest.mark.parametrize(
    ("prefix", "maker"),
    [
        ("HIKVISION_DS-2CD2143G0-I", "hikvision"),
        ("HIKVISION_DS-2DF7286-A", "hikvision"),
        ("AXIS_M5525-E", "axis"),
        ("PELCO_IMP321-1ES", "pelco"),
        ("MILESIGHT_MS-C8165-PE", "milesight"),
    ],
)
def test_real_devices(prefix: str, maker: str) -> None:
    ident = classify(_from_captures(prefix), T)
    assert ident.maker == maker and ident.brand == maker
    assert ident.confidence >= 0.75


@pytest.mark.parametrize(
    ("name", "maker", "brand"),
    [
        ("AMCREST-DAHUA-OEM_IP2M-841B_ProbeMatches.xml", "dahua", "amcrest"),
        ("AXIS_M1034-W_ProbeMatches.xml", "axis", "axis"),
        ("FOSCAM_C1_ProbeMatches.xml", "foscam", "foscam"),
        ("GENERIC-IPCAM_631GA_ProbeMatches.xml", None, None),
    ],
)
def test_discovery_scopes_alone(name: str, maker: str | None, brand: str | None) -> None:
    (match,) = soap.parse_probe_matches(read_capture(name))
    ident = classify(Signals(scopes=match.scopes), T)
    assert (ident.maker, ident.brand) == (maker, brand)


def test_relabelled_hikvision_is_hikvision_made_from_indirect_evidence() -> None:
    ident = classify(
        Signals(
            manufacturer="Acme Security",
            model="AC-500B",
            firmware="V5.5.61 build 180718",
            mac="44:19:b6:12:34:56",
            http_server="App-webs/",
        ),
        T,
    )
    assert ident.maker == "hikvision" and ident.confidence >= 0.5
    assert {e.signal for e in ident.evidence} >= {Signal.MAC_OUI, Signal.HTTP_SERVER, Signal.FIRMWARE_FORMAT}


def test_brand_on_the_label_and_maker_of_the_hardware_differ() -> None:
    ident = classify(Signals(manufacturer="EZVIZ", model="CS-C6N", mac="0c:a6:4c:00:00:01"), T)
    assert (ident.maker, ident.brand) == ("hikvision", "ezviz")
    lorex = classify(Signals(manufacturer="Lorex", model="LNB4321", mac="00:1f:54:00:00:01"), T)
    assert (lorex.maker, lorex.brand) == ("dahua", "lorex") and lorex.confidence >= 0.5
    via_cloud = classify(
        Signals(manufacturer="Generic", hostnames=["eucas.ezvizlife.com", "www.easy4ipcloud.com"]), T
    )
    assert via_cloud.maker is None  # two makers' clouds: doubt, not a guess


def test_a_brand_named_by_several_signals_is_one_oem_row_with_their_combined_weight() -> None:
    signals = Signals(
        manufacturer="Amcrest",
        model="IP2M-841B",
        scopes=("onvif://www.onvif.org/name/Amcrest",),
        login_title="Amcrest",
    )
    ident = classify(signals, T)
    oem = [e for e in ident.evidence if e.signal is Signal.OEM]
    assert len(oem) == 1 and oem[0].points_to == "dahua"
    # The one row weighs what the three did together: 1 - prod(1 - w) over the brand signals.
    singles = [classify(Signals(manufacturer="Amcrest"), T), classify(Signals(login_title="Amcrest"), T)]
    single_weights = [next(e.weight for e in s.evidence if e.signal is Signal.OEM) for s in singles]
    assert oem[0].weight > max(single_weights)
    assert ident.maker == "dahua" and ident.brand == "amcrest"


def test_low_confidence_claims_never_name_a_maker() -> None:
    swann = classify(Signals(manufacturer="Swann", model="SWNHD-887"), T)
    assert swann.maker is None and swann.brand == "swann" and swann.confidence < MIN_REPORTED_CONFIDENCE
    assert classify(Signals(mac="34:bd:20:00:00:01"), T).maker is None  # Hikrobot: a related registrant only


def test_contradicting_evidence_is_doubt() -> None:
    ident = classify(Signals(manufacturer="AXIS", model="M3106-L", mac="44:19:b6:00:00:01"), T)
    assert ident.confidence < 0.5


def test_locally_administered_macs_say_nothing() -> None:
    assert classify(Signals(mac="46:19:b6:00:00:01"), T).evidence == ()


UNRESTRICTED = [
    Signals("AXIS", "M5525-E", "8.40.1.1", "ACCC8EBECCEA", "ac:cc:8e:be:cc:ea"),
    Signals("pelco", "IMP321-1ES", "01.16.42-20180912", "T82212128", "00:04:7d:36:a5:4e"),
    Signals("Milesight Technology Co.,Ltd.", "MS-C8165-PE", "61.8.0.3-r8", "EM82V102329001403"),
    Signals("TP-Link", "Tapo C500", "1.3.7 Build 230316"),
    Signals("Bosch", "FLEXIDOME 5100i", "7.80.0128", mac="00:04:63:00:00:01"),
]


@given(
    st.sampled_from(UNRESTRICTED),
    st.lists(st.sampled_from(["App-webs/", "gSOAP/2.7", "lighttpd", "Boa/0.94"]), max_size=1),
    st.lists(
        st.sampled_from(["time.windows.com", "pool.ntp.org", "hik-connect.com.example.org"]), max_size=2
    ),
)
def test_an_unrestricted_maker_is_never_called_hikvision_or_dahua(
    base: Signals, server: list[str], hosts: list[str]
) -> None:
    signals = Signals(
        base.manufacturer,
        base.model,
        base.firmware,
        base.serial,
        base.mac,
        (),
        (server or [""])[0],
        "",
        hosts,
    )
    assert classify(signals, T).maker not in ("hikvision", "dahua")


def test_probe_match_scopes_count_like_get_scopes_and_a_scope_in_both_counts_once() -> None:
    scopes = ("onvif://www.onvif.org/name/Amcrest", "onvif://www.onvif.org/hardware/IP2M-841B")
    from_probe = classify(Signals(probe_scopes=scopes), T)
    both = classify(Signals(scopes=scopes, probe_scopes=scopes), T)
    assert (from_probe.maker, from_probe.brand) == ("dahua", "amcrest")
    assert both.evidence == from_probe.evidence and both.confidence == from_probe.confidence


def test_every_mac_is_looked_at_and_one_maker_counts_once() -> None:
    ident = classify(Signals(mac="02:00:00:00:00:01", macs=("44:19:b6:00:00:01", "58:03:fb:00:00:02")), T)
    assert [(e.signal, e.points_to) for e in ident.evidence] == [(Signal.MAC_OUI, "hikvision")]


def test_a_serial_number_that_is_the_mac_is_a_mac_signal() -> None:
    ident = classify(Signals(serial="4419B64BF1A2"), T)
    assert [(e.signal, e.points_to) for e in ident.evidence] == [(Signal.SERIAL_MAC, "hikvision")]
    assert classify(Signals(serial="441906400112"), T).evidence == ()  # digits only: a serial


def test_an_endpoint_reference_ending_in_a_mac_is_a_weak_mac_signal() -> None:
    ident = classify(Signals(xaddr_hints=("urn:uuid:88d87a05-d7f7-7e45-b1e9-4419B64BF1A2",)), T)
    (ev,) = ident.evidence
    assert ev.signal is Signal.XADDR and ev.points_to == "hikvision" and ev.weight < 0.5


@pytest.mark.parametrize(
    ("signals", "restricted"),
    [
        (Signals("HIKVISION", "DS-2CD2143G0-I", "V5.5.61 build 180718"), Restricted.YES),
        (Signals("AXIS", "M5525-E", "8.40.1.1"), Restricted.NO),
        (Signals(manufacturer="Swann"), Restricted.PROBABLE),  # a low-confidence OEM claim
        (Signals("AXIS", "M3106-L", mac="44:19:b6:00:00:01"), Restricted.PROBABLE),  # contradiction
        (Signals(manufacturer="Acme"), Restricted.UNKNOWN),
        (Signals(), Restricted.UNKNOWN),
    ],
)
def test_the_restricted_verdict(signals: Signals, restricted: Restricted) -> None:
    assert classify(signals, T).restricted is restricted


def test_a_generic_label_counts_only_beside_evidence_for_a_maker_that_sends_it() -> None:
    assert classify(Signals(manufacturer="General"), T).evidence == ()
    dahua = classify(Signals(manufacturer="General", mac="e0:50:8b:00:00:01"), T)
    assert Signal.GENERIC_LABEL in {e.signal for e in dahua.evidence} and dahua.maker == "dahua"
    axis = classify(Signals(manufacturer="General", mac="ac:cc:8e:00:00:01"), T)
    assert Signal.GENERIC_LABEL not in {e.signal for e in axis.evidence}  # Axis firmware never says General


def test_a_vendor_named_inside_the_model_string_counts_when_the_manufacturer_is_empty() -> None:
    ident = classify(Signals(model="Dahua Technology Co., LTD DH-IPC-HDBW2320RN-ZS"), T)
    assert ident.maker == "dahua" and ident.confidence >= 0.5
    assert {e.signal for e in ident.evidence} >= {Signal.MANUFACTURER, Signal.MODEL}
