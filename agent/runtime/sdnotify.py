"""sd_notify(3) without libsystemd: readiness, watchdog and status datagrams to systemd.

systemd passes ``NOTIFY_SOCKET`` to a ``Type=notify`` service: an absolute path of an
AF_UNIX datagram socket, or ``@name`` for one in the abstract namespace. Each
notification is one datagram of newline-separated ``KEY=VALUE`` lines. Outside systemd
(no ``NOTIFY_SOCKET``) every call is a no-op that returns False, so the daemon calls
these unconditionally. Send errors are swallowed and reported as False: a lost ping must
never take the daemon down (systemd's watchdog notices a daemon that stops pinging).

The environment is an argument so tests inject it; the module-level helpers read
``os.environ`` at call time.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

# sd_notify(3): the protocol is plain text, but a status line is for people; keep one
# datagram small and on one line so journal and `systemctl status` show it whole.
MAX_STATUS_CHARS = 200


def socket_address(environ: Mapping[str, str]) -> str | None:
    """The address to send to, from NOTIFY_SOCKET; None when absent or unusable."""
    value = environ.get("NOTIFY_SOCKET", "")
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]  # Linux abstract namespace: a leading NUL byte
    if value.startswith("/"):
        return value
    # Empty, relative, or a transport we do not speak (systemd >= 254 also allows
    # "vsock:CID:PORT" for VMs; a site box never gets one).
    return None


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send one sd_notify datagram; True if systemd's socket accepted it."""
    address = socket_address(os.environ if environ is None else environ)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
    except OSError:
        return False
    return True


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """The watchdog timeout systemd set for this process in seconds, or None if none.

    Ping at half of it (sd_watchdog_enabled(3)). WATCHDOG_PID, when set, names the
    process the watchdog is meant for; a child that inherited the environment gets None.
    """
    env = os.environ if environ is None else environ
    pid = env.get("WATCHDOG_PID")
    if pid is not None:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    return usec / 1_000_000


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:MAX_STATUS_CHARS]


def notify_ready(status: str | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Startup finished: systemd moves the unit from 'activating' to 'active'."""
    lines = ["READY=1", f"MAINPID={os.getpid()}"]
    if status:
        lines.append(f"STATUS={_one_line(status)}")
    return notify("\n".join(lines), environ)


def notify_watchdog(environ: Mapping[str, str] | None = None) -> bool:
    """Still alive: resets systemd's WatchdogSec timer."""
    return notify("WATCHDOG=1", environ)


def notify_status(text: str, environ: Mapping[str, str] | None = None) -> bool:
    """A one-line status that `systemctl status` shows."""
    return notify(f"STATUS={_one_line(text)}", environ)


def notify_stopping(environ: Mapping[str, str] | None = None) -> bool:
    """Shutdown started: systemd will not treat the exit that follows as a surprise."""
    return notify("STOPPING=1", environ)
