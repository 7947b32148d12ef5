"""Small JSON state files (the agent's status, the collector's storage state), written 0600."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, value: Any) -> None:
    """Replace ``path`` atomically, created 0600 whatever the umask. On a full disk (no room for a
    second copy) the file is rewritten in place instead: truncating it frees the room it needs."""
    data = json.dumps(value, indent=2, sort_keys=True).encode("utf-8")
    tmp = path.with_suffix(".tmp")
    try:
        _write_file(tmp, data, os.O_TRUNC)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not path.exists():
            raise
        _write_file(path, data, os.O_TRUNC)


def _write_file(path: Path, data: bytes, flags: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
