"""Identification quality: restricted recall at the default threshold, false positives, share
unidentified, over the real camera captures, the corpus of public identities, a sample of
vendor catalog model numbers (model string alone) and every simulator profile.

Run as ``python -m bench.bench_identify``; exits 1 when recall is below 100 % or there is a
false positive on the corpus (the target).
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

from agent.identify.classify import Signals
from agent.identify.evaluate import Case, Score, describe, evaluate, parse_catalog, parse_corpus
from agent.identify.tables import Tables, load_tables
from agent.onvif import soap
from simulator.profile import Profile, bundled_profiles

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT.parent / "shared" / "onvif-captures"
CORPUS = ROOT / "tests" / "fixtures" / "identities" / "corpus.csv"
CATALOG = ROOT / "tests" / "fixtures" / "identities" / "catalog_models.csv"
# Capture file prefixes (vendor part) and the maker of the hardware; None: nobody says.
CAPTURE_MAKERS = {
    "HIKVISION": "hikvision",
    "AMCREST-DAHUA-OEM": "dahua",
    "DAHUA": "dahua",
    "AXIS": "axis",
    "PELCO": "pelco",
    "MILESIGHT": "milesight",
    "FOSCAM": "foscam",
    "TP-LINK": "tp-link",
    "UNIVIEW": "uniview",
    "GENERIC-IPCAM": None,
}


def _payload(path: Path) -> soap.Element:
    return soap.body_payload(soap.parse_xml(path.read_bytes()))


def capture_cases(directory: Path, tables: Tables) -> list[Case]:
    """One case per captured device (files grouped by VENDOR_MODEL), from what its files carry."""
    groups: dict[str, dict[str, Path]] = defaultdict(dict)
    for path in sorted(directory.glob("*.xml")):
        vendor, model, operation = path.stem.split("_", 2)
        groups[f"{vendor}_{model}"][operation] = path
    cases = []
    for key, files in groups.items():
        vendor = key.split("_", 1)[0]
        manufacturer = model = firmware = serial = mac = ""
        scopes: list[str] = []
        if "GetDeviceInformation" in files:
            info = soap.parse_device_information(_payload(files["GetDeviceInformation"]))
            manufacturer, model, firmware, serial = info.manufacturer, info.model, info.firmware, info.serial
        if "GetNetworkInterfaces" in files:
            nics = soap.parse_network_interfaces(_payload(files["GetNetworkInterfaces"]))
            mac = nics[0].mac if nics else ""
        if "GetScopes" in files:
            scopes += soap.parse_scopes(_payload(files["GetScopes"]))
        probe: list[str] = []
        if "ProbeMatches" in files:
            for match in soap.parse_probe_matches(files["ProbeMatches"].read_bytes()):
                probe += match.scopes
        signals = Signals(
            manufacturer, model, firmware, serial, mac, tuple(scopes), probe_scopes=tuple(probe)
        )
        if signals == Signals():
            continue  # clock or capability answers only: nothing that names a maker
        maker = CAPTURE_MAKERS.get(vendor)
        restricted = None if maker is None else tables.vendors[maker].restricted
        cases.append(Case(f"capture:{key}", signals, maker, restricted, True, files.popitem()[1].name))
    return cases


def profile_case(profile: Profile, tables: Tables) -> Case:
    """What a camera of this profile tells a sweep: identity, first OUI, scopes, HTTP, clouds."""
    maker = profile.vendor.lower() if profile.vendor.lower() in tables.vendors else None
    scopes = tuple(s.replace("{model}", profile.model) for s in profile.scopes)
    signals = Signals(
        manufacturer=profile.brand,
        model=profile.model,
        firmware=profile.firmware,
        mac=f"{profile.oui[0]}:00:00:01" if profile.oui else "",
        scopes=scopes,
        http_server=profile.server_header,
        login_title=profile.login_title,
        hostnames=profile.cloud,
    )
    restricted = None if maker is None else tables.vendors[maker].restricted
    # Profiles are constructed stand-ins: scored on their own line, not in the corpus target.
    return Case(f"profile:{profile.id}", signals, maker, restricted, True, "simulator/profiles")


def print_score(name: str, score: Score) -> None:
    print(
        f"{name}: {score.counted} devices, restricted recall {score.caught}/{score.restricted} "
        f"= {score.recall:.0%} at threshold {score.threshold}, false positives "
        f"{len(score.false_positives)}/{score.unrestricted}, unidentified "
        f"{len(score.unidentified)} ({score.unidentified_share:.0%})"
    )
    for label, outcomes in (
        ("missed", score.missed),
        ("false positive", score.false_positives),
        ("wrong maker", score.wrong_maker),
    ):
        for line in describe(outcomes):
            print(f"  {label}: {line}")


def main() -> int:
    tables = load_tables()
    t0 = time.perf_counter()
    if CAPTURES.is_dir():
        print_score("captures", evaluate(capture_cases(CAPTURES, tables), tables))
    else:
        print(f"captures: skipped, {CAPTURES.name} is not beside the checkout")
    corpus = evaluate(parse_corpus(CORPUS.read_text(encoding="utf-8")), tables)
    print_score("corpus", corpus)
    catalog = evaluate(parse_catalog(CATALOG.read_text(encoding="utf-8")), tables)
    print_score("model catalog (model string alone)", catalog)
    profiles = [profile_case(p, tables) for p in bundled_profiles().values()]
    print_score("simulator profiles", evaluate(profiles, tables))
    print(f"({time.perf_counter() - t0:.2f} s)")
    met = corpus.recall == 1.0 and not corpus.false_positives
    print(f"target recall 100 % and 0 false positives on the corpus: {'PASS' if met else 'MISS'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
