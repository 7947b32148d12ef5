"""ONVIF over HTTPS against a real TLS server (the simulator's HTTPS-only camera): the first poll
pins the certificate, the same certificate polls again, a new one is a finding and gets nothing."""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.onvif.errors import CertificateChanged
from agent.onvif.sweep import Sweeper
from agent.onvif.targets import CameraTarget
from agent.onvif.tls import PINS_FILE, PinFileError, PinOutcome, PinStore, fingerprint

fleet_mod = pytest.importorskip("simulator.fleet")
runner_mod = pytest.importorskip("simulator.runner")

PROFILE = "hikvision-ds-2cd2386g2-iu-v5.7.3-https"


def test_pins_first_use_same_and_changed(tmp_path: Path) -> None:
    store = PinStore.in_dir(tmp_path / "state")
    assert store.check("10.0.0.5:443", b"cert-a") is PinOutcome.PINNED
    path = tmp_path / "state" / PINS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"10.0.0.5:443": fingerprint(b"cert-a")}
    assert store.check("10.0.0.5:443", b"cert-a") is PinOutcome.MATCH
    assert store.check("10.0.0.6:443", b"cert-b") is PinOutcome.PINNED  # keyed by address:port
    reloaded = PinStore.in_dir(tmp_path / "state")
    with pytest.raises(CertificateChanged) as err:
        reloaded.check("10.0.0.5:443", b"cert-c")
    assert err.value.pinned == fingerprint(b"cert-a") and err.value.seen == fingerprint(b"cert-c")
    assert reloaded.get("10.0.0.5:443") == fingerprint(b"cert-a")  # the pin stays until an operator acts


@pytest.mark.parametrize("content", ["{not json", '["a"]', '{"10.0.0.5:443": "short"}'])
def test_unusable_pin_file_is_an_error_naming_it(tmp_path: Path, content: str) -> None:
    (tmp_path / PINS_FILE).write_text(content)
    with pytest.raises(PinFileError, match=PINS_FILE):
        PinStore.in_dir(tmp_path)
    assert (tmp_path / PINS_FILE).read_text() == content  # nothing lost


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def fleet() -> Any:
    data = {
        "fleet": {"seed": "https-test", "base_address": "127.22.9.1", "port": _free_port()},
        "cameras": [{"profile": PROFILE, "id": "tls-cam"}],
    }
    return fleet_mod.load_fleet(data)


def _kinds(record: dict[str, Any]) -> dict[str, str]:
    return {f["kind"]: f["severity"] for f in record["findings"]}


@pytest.fixture
def running(fleet: Any) -> Iterator[Any]:
    with runner_mod.FleetRunner(fleet, discovery=False, phone_home=False) as runner:
        yield runner


def test_https_camera_is_polled_pinned_and_a_new_certificate_is_a_finding(fleet: Any, tmp_path: Path) -> None:
    (spec,) = fleet.cameras
    assert spec.xaddr("device").startswith("https://")
    target = CameraTarget(spec.address, spec.port, spec.username, spec.password, scheme="https")
    pins = PinStore.in_dir(tmp_path)
    sweeper = Sweeper(per_camera_timeout_s=5.0, pins=pins)
    with runner_mod.FleetRunner(fleet, discovery=False, phone_home=False) as runner:
        first = runner.certificates["tls-cam"].sha256
        (record,) = [x.to_json() for x in sweeper.sweep([target])]
        assert record["reachable"] and record["authenticated"] is True
        assert (record["maker"], record["model"]) == ("hikvision", "DS-2CD2386G2-IU")
        assert record["http_server"] == "App-webs/"  # the banner came over TLS too
        assert pins.get(target.host_port) == first
        assert "plain_http_only" not in _kinds(record)
        (again,) = [x.to_json() for x in sweeper.sweep([target])]
        assert again["authenticated"] is True and "certificate_changed" not in _kinds(again)
    # The camera is reset (or replaced, or someone sits in the middle): a new certificate.
    with runner_mod.FleetRunner(fleet, discovery=False, phone_home=False) as runner:
        assert runner.certificates["tls-cam"].sha256 != first
        (changed,) = [x.to_json() for x in sweeper.sweep([target])]
        assert _kinds(changed).get("certificate_changed") == "high"
        assert changed["authenticated"] is None and changed["model"] is None
        assert runner.call(lambda: dict(runner.cameras["tls-cam"].counts)) == {}  # not one request
    assert PinStore.in_dir(tmp_path).get(target.host_port) == first


def test_plain_http_to_an_https_camera_fails_cleanly(running: Any) -> None:
    (spec,) = running.fleet.cameras
    (record,) = [
        x.to_json() for x in Sweeper(per_camera_timeout_s=3.0).sweep([CameraTarget(spec.address, spec.port)])
    ]
    assert not record["authenticated"] and record["findings"]


def test_tls_to_a_plain_http_camera_is_tls_failed() -> None:
    data = {
        "fleet": {"seed": "https-test", "base_address": "127.22.9.20", "port": _free_port()},
        "cameras": [{"profile": "axis-m5525-e-v8.40.1.1", "id": "plain"}],
    }
    with runner_mod.FleetRunner(fleet_mod.load_fleet(data), discovery=False, phone_home=False) as runner:
        (spec,) = runner.fleet.cameras
        target = CameraTarget(spec.address, spec.port, spec.username, spec.password, scheme="https")
        (record,) = [r.to_json() for r in Sweeper(per_camera_timeout_s=3.0).sweep([target])]
        assert runner.call(lambda: dict(runner.cameras["plain"].counts)) == {}  # no SOAP request got through
    assert _kinds(record).get("tls_failed") == "medium" and record["authenticated"] is None
