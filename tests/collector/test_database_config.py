"""Which databases the collector config accepts, and that a database password never shows."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.runtime.errors import ConfigError
from agent.wire.signing import public_key_to_text
from collector.cli import main as collector_main
from collector.config import parse_collector_config
from tests.support.postgres import postgres_schema

SECRET = "pw-Zq8-never-shown"


def parse(**top: object) -> object:
    return parse_collector_config({**top, "mqtt": {"host": "127.0.0.1"}}, "collector.toml")


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/camsentry-collector/camsentry.sqlite",
        "postgresql://camsentry@db.example.org:5432/camsentry",
        "postgresql:///camsentry?host=/var/run/postgresql",
        "postgres://camsentry@10.0.0.5/camsentry?sslmode=verify-full",
    ],
)
def test_accepted_database_urls(url: str) -> None:
    assert parse(database=url).database == url  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://u@h/db", "must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB"),
        ("/var/lib/camsentry.sqlite", "must be sqlite:///PATH"),
        ("sqlite:///", "needs a file path"),
        ("postgresql://u@h/db?colour=blue", 'libpq accepts: invalid URI query parameter: "colour"'),
        (f"postgresql://camsentry:{SECRET}@h/db", "must not carry a password"),
        (f"postgresql://camsentry@h/db?password={SECRET}", "must not carry a password"),
    ],
)
def test_refused_database_urls_say_why_and_never_repeat_a_password(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=r"collector\.toml: database: ") as caught:
        parse(database=url)
    assert problem in str(caught.value)
    assert SECRET not in str(caught.value)


def test_password_file_is_only_for_postgresql() -> None:
    with pytest.raises(ConfigError, match="database_password_file: is only for a postgresql:// database"):
        parse(database="sqlite:///x.sqlite", database_password_file="/etc/camsentry/db.pass")
    config = parse(database="postgresql:///camsentry", database_password_file="/etc/camsentry/db.pass")
    assert config.database_password_file == Path("/etc/camsentry/db.pass")  # type: ignore[attr-defined]


def write_config(tmp_path: Path, database: str, password_file: Path) -> Path:
    path = tmp_path / "collector.toml"
    path.write_text(
        f'state_dir = "{tmp_path}"\ndatabase = "{database}"\n'
        f'database_password_file = "{password_file}"\n[mqtt]\nhost = "127.0.0.1"\n'
    )
    return path


@pytest.mark.postgres
def test_status_and_agents_on_postgresql_never_show_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    password_file = tmp_path / "db.pass"
    password_file.write_text(SECRET + "\n")
    with postgres_schema() as url, structlog.testing.capture_logs() as logs:
        config = write_config(tmp_path, url, password_file)
        key = public_key_to_text(Ed25519PrivateKey.generate().public_key())
        add = ["agents", "add", "--site", "hq", "--agent", "pi", "--public-key", key]
        assert collector_main(["--config", str(config), *add]) == 0
        assert collector_main(["--config", str(config), "status", "--json"]) == 0
        assert collector_main(["--config", str(config), "agents", "list"]) == 0
        out, err = capsys.readouterr()
        assert '"agent": "pi"' in out
        # nothing listens on port 1: the refusal names the database, not the password
        unreachable = write_config(tmp_path, "postgresql://camsentry@127.0.0.1:1/camsentry", password_file)
        assert collector_main(["--config", str(unreachable), "status"]) == 1
        out2, err2 = capsys.readouterr()
        assert "database error: postgresql://camsentry@127.0.0.1:1/camsentry: cannot connect" in err2
    assert all(SECRET not in text for text in (out, err, out2, err2, repr(logs)))


def test_an_unreadable_password_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent.pass"
    config = write_config(tmp_path, "postgresql://camsentry@127.0.0.1:1/camsentry", missing)
    assert collector_main(["--config", str(config), "status"]) == 1
    assert (
        f"database error: database_password_file {missing}: No such file or directory"
        in capsys.readouterr().err
    )
