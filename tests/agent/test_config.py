"""Config errors name the file, the key and the problem; the shipped examples load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import load_agent_config, parse_agent_config
from agent.runtime.errors import ConfigError
from agent.wire.signing import public_key_to_text
from collector.config import load_collector_config

ROOT = Path(__file__).resolve().parents[2]
KEY = public_key_to_text(Ed25519PrivateKey.generate().public_key())


def minimal() -> dict[str, object]:
    return {"site": "hq", "agent": "pi", "collector": {"public_key": KEY}, "mqtt": {"host": "127.0.0.1"}}


def test_shipped_examples_load(tmp_path: Path) -> None:
    sample = ROOT / "deploy" / "agent.example.toml"
    with pytest.raises(ConfigError, match=r"collector.public_key: is the sample config's placeholder"):
        load_agent_config(sample)
    real = tmp_path / "agent.toml"
    real.write_text(sample.read_text().replace("A" * 43 + "=", KEY))
    agent = load_agent_config(real)
    assert agent.site == "hq-london" and agent.mqtt.tls is not None and len(agent.cameras) == 1
    collector = load_collector_config(ROOT / "deploy" / "collector.example.toml")
    assert collector.max_payload_bytes == 262144


def test_minimal_config_gets_defaults() -> None:
    config = parse_agent_config(minimal(), "a.toml")
    assert config.mqtt.port == 1883 and config.delivery.receipt_timeout_s == 30.0


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (lambda d: d.pop("site"), "site", "is required"),
        (lambda d: d.update(agent="bad/name"), "agent", "must be 1-64"),
        (lambda d: d.update(collector={"public_key": "nope"}), "collector.public_key", "not a base64"),
        (lambda d: d.update(mqtt={"host": "h", "port": 70000}), "mqtt.port", "at most 65535"),
        (lambda d: d.update(mqtt={"host": "h", "port": "1883"}), "mqtt.port", "must be an integer"),
        (lambda d: d.update(mqtt={"host": "h", "tls": True}), "mqtt.ca_file", "required when tls"),
        (lambda d: d.update(mqtt={"host": "h", "prot": 1}), "mqtt.prot", "unknown key"),
        (lambda d: d.update(delivery={"outbox_sync": "OFF"}), "delivery.outbox_sync", "one of NORMAL, FULL"),
        (lambda d: d.update(polling={"interval_s": 0}), "polling.interval_s", "at least 1.0"),
        (lambda d: d.update(camera={"address": "x"}), "camera", "array of tables"),
        (
            lambda d: d.update(mqtt={"host": "h", "password_file": "/nonexistent/pw"}),
            "mqtt.password_file",
            "cannot read",
        ),
    ],
)
def test_each_error_names_file_key_and_problem(change, key: str, problem: str) -> None:  # type: ignore[no-untyped-def]
    data = minimal()
    change(data)
    with pytest.raises(ConfigError) as err:
        parse_agent_config(data, "/etc/camsentry/agent.toml")
    assert err.value.file == "/etc/camsentry/agent.toml"
    assert err.value.key == key
    assert problem in err.value.problem


def test_unparseable_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "agent.toml"
    bad.write_text("site = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_agent_config(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_agent_config(tmp_path / "missing.toml")


def test_cli_exits_non_zero_with_the_message(tmp_path: Path) -> None:
    bad = tmp_path / "agent.toml"
    bad.write_text('site = "hq"\nagent = "pi"\n[collector]\npublic_key = "x"\n[mqtt]\nhost = "h"\n')
    out = subprocess.run(
        [sys.executable, "-m", "agent.cli", "status", "--config", str(bad)], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert f"{bad}: collector.public_key: not a base64" in out.stderr
