"""Config and policy validation: finite numbers in range, types, all problems at once, bad files."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import load_agent_config, parse_agent_config
from agent.runtime.errors import ConfigError, ConfigErrors
from agent.wire.signing import public_key_to_text
from collector.config import load_collector_config, parse_collector_config, requested_packet_bytes
from collector.policy.model import parse_policy

KEY = public_key_to_text(Ed25519PrivateKey.generate().public_key())
GOOD_AGENT = f'site = "hq"\nagent = "pi"\n[collector]\npublic_key = "{KEY}"\n[mqtt]\nhost = "127.0.0.1"\n'


def agent_with(extra: dict[str, dict[str, object]]) -> dict[str, object]:
    data: dict[str, object] = {"site": "hq", "agent": "pi", "collector": {"public_key": KEY}}
    data["mqtt"] = {"host": "127.0.0.1", **extra.pop("mqtt", {})}
    data.update(extra)
    return data


@pytest.mark.parametrize(
    ("table", "key", "value", "problem"),
    [
        ("polling", "interval_s", math.nan, "must be a finite number, got nan"),
        ("polling", "interval_s", math.inf, "must be a finite number, got inf"),
        ("polling", "snapshot_interval_s", -math.inf, "must be a finite number, got -inf"),
        ("delivery", "receipt_timeout_s", math.nan, "finite"),
        ("polling", "interval_s", 10**9, "must be at most"),
        ("polling", "interval_s", "300", "must be a number, got a string"),
        ("polling", "concurrency", 4.5, "must be an integer, got a number"),
        ("polling", "try_default_credentials", 1, "must be true or false, got an integer"),
        ("mqtt", "session_expiry_s", 2**32, "must be at most 4294967295"),
        ("mqtt", "reconnect_max_s", math.nan, "finite"),
    ],
)
def test_agent_numbers_are_finite_typed_and_in_range(
    table: str, key: str, value: object, problem: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_agent_config(agent_with({table: {key: value}}), "a.toml")
    assert err.value.key == f"{table}.{key}"
    assert problem in err.value.problem


def test_agent_config_reports_every_problem_at_once() -> None:
    data = agent_with(
        {
            "mqtt": {"session_expiry_s": 2**32, "port": "x"},
            "polling": {"interval_s": math.nan, "concurent": 3},
            "delivery": {"outbox_sync": "SOMETIMES"},
            "enforce": {"recorders": ["fe80::1%eth0"]},
        }
    )
    data["site"] = "bad site"
    with pytest.raises(ConfigErrors) as err:
        parse_agent_config(data, "a.toml")
    keys = [p.key for p in err.value.problems]
    assert set(keys) == {
        "site",
        "mqtt.port",
        "mqtt.session_expiry_s",
        "polling.interval_s",
        "polling.concurent",
        "delivery.outbox_sync",
        "enforce.recorders",
    }
    assert str(err.value).count("\n") == len(keys) - 1, "one line per problem"


def test_a_problem_in_the_middle_of_a_table_does_not_hide_the_rest_of_it(tmp_path: Path) -> None:
    # Tried: an unreadable password file and an unknown key in one [mqtt] table, and TLS without
    # a CA beside a lone cert_file; each problem is listed, not only the first one met.
    data = agent_with({"mqtt": {"password_file": str(tmp_path / "missing"), "bogus_key": 1}})
    with pytest.raises(ConfigErrors) as err:
        parse_agent_config(data, "a.toml")
    assert {p.key for p in err.value.problems} == {"mqtt.password_file", "mqtt.bogus_key"}
    data = agent_with({"mqtt": {"tls": True, "cert_file": "c.pem", "bogus": 1}})
    with pytest.raises(ConfigErrors) as err:
        parse_agent_config(data, "a.toml")
    assert {p.key for p in err.value.problems} == {"mqtt.ca_file", "mqtt.cert_file", "mqtt.bogus"}


def test_collector_config_reports_every_problem_at_once_and_asks_for_big_enough_packets() -> None:
    data: dict[str, object] = {
        "mqtt": {"host": "b", "session_expiry_s": 2**40},
        "ingest": {"max_payload_bytes": 10**12, "receipt_flush_s": math.inf},
        "liveness": {"silent_after_s": math.nan},
        "database": "mysql://x",
    }
    with pytest.raises(ConfigErrors) as err:
        parse_collector_config(data, "c.toml")
    assert {p.key for p in err.value.problems} == {
        "database",
        "mqtt.session_expiry_s",
        "ingest.max_payload_bytes",
        "ingest.receipt_flush_s",
        "liveness.silent_after_s",
    }
    config = parse_collector_config({"mqtt": {"host": "b"}, "ingest": {"max_payload_bytes": 32 << 20}}, "c")
    assert requested_packet_bytes(config.max_payload_bytes) >= config.max_payload_bytes
    assert requested_packet_bytes(256 * 1024) >= 16 << 20


BAD_FILES = {
    "not_utf8": GOOD_AGENT.encode() + b"# caf\xe9\n",
    "binary": b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)),
    "nested_to_death": GOOD_AGENT.encode() + b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "inline_tables_to_death": GOOD_AGENT.encode() + b"x = " + b"{a = " * 3000 + b"1" + b"}" * 3000 + b"\n",
    "huge": b"# " + b"x" * (2 * 1024 * 1024),
    "not_toml": b"site = \n",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_unreadable_files_are_one_line_errors(name: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(BAD_FILES[name])
    for load in (load_agent_config, load_collector_config):
        with pytest.raises(ConfigError) as err:
            load(path)
        assert err.value.key == "-" and "\n" not in str(err.value)
    _policy, errors = parse_policy(BAD_FILES[name], "p.toml")
    assert _policy is None and len(errors) == 1 and "\n" not in errors[0]


def test_the_cli_prints_one_line_for_a_binary_config_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_bytes(BAD_FILES["binary"])
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "status", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "binary file" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("min_maker_confidence = nan", "defaults.min_maker_confidence"),
        ("min_maker_confidence = 1.5", "defaults.min_maker_confidence"),
        ("agent_silent_after_s = nan", "defaults.agent_silent_after_s"),
        ("agent_silent_after_s = inf", "defaults.agent_silent_after_s"),
        ("clock_skew_max_s = -inf", "defaults.clock_skew_max_s"),
        ("device_vanished_after_s = nan", "defaults.device_vanished_after_s"),
    ],
)
def test_policy_refuses_nan_and_out_of_range_thresholds(line: str, key: str) -> None:
    policy, errors = parse_policy(f"[defaults]\n{line}\n".encode(), "p.toml")
    assert policy is None
    assert len(errors) == 1 and errors[0].startswith(f"p.toml: {key}: ")
