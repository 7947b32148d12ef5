"""sd_notify against real AF_UNIX datagram sockets: a filesystem path and the abstract namespace."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.runtime import sdnotify

RECV_TIMEOUT_S = 5.0


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, dict[str, str]]]:
    """systemd's side: a bound datagram socket and the environment pointing at it."""
    address = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(address))
        sock.settimeout(RECV_TIMEOUT_S)
        yield sock, {"NOTIFY_SOCKET": str(address)}


@pytest.fixture
def abstract_socket() -> Iterator[tuple[socket.socket, dict[str, str]]]:
    name = f"camsentry-test-{secrets.token_hex(8)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(RECV_TIMEOUT_S)
        yield sock, {"NOTIFY_SOCKET": "@" + name}


def fields(datagram: bytes) -> dict[str, str]:
    lines = datagram.decode("utf-8").split("\n")
    return dict(line.split("=", 1) for line in lines)


def test_ready_on_a_path_socket(path_socket: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = path_socket
    assert sdnotify.notify_ready(environ=env) is True
    assert fields(sock.recv(4096)) == {"READY": "1", "MAINPID": str(os.getpid())}


def test_ready_with_status(path_socket: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = path_socket
    assert sdnotify.notify_ready("12 cameras", environ=env)
    got = fields(sock.recv(4096))
    assert got["READY"] == "1"
    assert got["STATUS"] == "12 cameras"


def test_every_message_on_the_abstract_namespace(
    abstract_socket: tuple[socket.socket, dict[str, str]],
) -> None:
    sock, env = abstract_socket
    assert sdnotify.notify_ready(environ=env)
    assert fields(sock.recv(4096))["READY"] == "1"
    assert sdnotify.notify_watchdog(environ=env)
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert sdnotify.notify_status("outbox 3, broker up", environ=env)
    assert sock.recv(4096) == b"STATUS=outbox 3, broker up"
    assert sdnotify.notify_stopping(environ=env)
    assert sock.recv(4096) == b"STOPPING=1"


def test_status_is_one_bounded_line(path_socket: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = path_socket
    assert sdnotify.notify_status("line one\nREADY=1\n" + "x" * 1000, environ=env)
    datagram = sock.recv(8192)
    assert b"\n" not in datagram  # a status cannot smuggle a second field
    assert len(datagram) == len("STATUS=") + sdnotify.MAX_STATUS_CHARS


def test_os_environ_is_read_at_call_time(
    path_socket: tuple[socket.socket, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, env = path_socket
    monkeypatch.setenv("NOTIFY_SOCKET", env["NOTIFY_SOCKET"])
    assert sdnotify.notify_watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"


@pytest.mark.parametrize("value", [None, "", "relative/sock", "@", "vsock:2:1234"])
def test_not_under_systemd_is_a_no_op(value: str | None) -> None:
    env = {} if value is None else {"NOTIFY_SOCKET": value}
    assert sdnotify.notify_ready(environ=env) is False
    assert sdnotify.notify_watchdog(environ=env) is False


def test_a_vanished_socket_is_reported_not_raised(tmp_path: Path) -> None:
    env = {"NOTIFY_SOCKET": str(tmp_path / "gone")}
    assert sdnotify.notify_watchdog(environ=env) is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": str(os.getpid())}, 0.5),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "nope"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "thirty"}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert sdnotify.watchdog_interval_s(env) == expected
