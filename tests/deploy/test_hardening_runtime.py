"""The units' MemoryDenyWriteExecute=yes does not break the Python stack the services load.

systemd enforces it with a seccomp filter; the kernel's PR_SET_MDWE (Linux 6.3+) refuses the
same thing (writable and executable memory) and is what a test can switch on for a child
process without systemd. Skipped on older kernels.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.deploy.systemd_tools import REPO

MDWE_UNSUPPORTED = 3

CHILD = textwrap.dedent(
    """
    import ctypes, mmap, sys
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        sys.exit(3)
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except OSError:
        pass
    else:
        sys.exit("W+X memory was allowed: the guard is not on")
    import sqlite3, ssl
    ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 1)()  # libffi closures, as cffi makes them
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    Ed25519PrivateKey.generate().sign(b"camsentry")
    ssl.create_default_context()
    sqlite3.connect(":memory:").execute("pragma journal_mode=wal")
    for name in sys.argv[1:]:
        __import__(name)
    print("ok")
    """
)

AGENT_STACK = ["paho.mqtt.client", "psutil", "structlog", "lxml.etree", "zeep", "agent.wire"]
COLLECTOR_STACK = ["paho.mqtt.client", "structlog", "psycopg", "agent.wire"]


@pytest.mark.parametrize("modules", [AGENT_STACK, COLLECTOR_STACK], ids=["agent", "collector"])
def test_stack_runs_without_writable_executable_memory(modules: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, *modules],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    if result.returncode == MDWE_UNSUPPORTED:
        pytest.skip("kernel has no PR_SET_MDWE (needs Linux 6.3+)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
