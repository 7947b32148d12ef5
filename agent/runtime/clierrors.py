"""How the command-line tools report the errors an operator can fix: one line, exit code 2."""

from __future__ import annotations

import os
import sys

from agent.runtime.errors import ConfigError, ConfigErrors
from agent.wire.signing import KeyFormatError

OPERATOR_ERRORS = (ConfigError, KeyFormatError, FileNotFoundError)


def report_operator_error(exc: ConfigError | KeyFormatError | FileNotFoundError) -> int:
    if isinstance(exc, ConfigErrors):
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
    elif isinstance(exc, ConfigError):
        print(f"config error: {exc}", file=sys.stderr)
    elif isinstance(exc, KeyFormatError):
        print(f"key error: {exc}", file=sys.stderr)
    else:
        print(f"error: {exc.filename}: {exc.strerror}", file=sys.stderr)
    return 2


# 128 + SIGPIPE: what a shell reports for a writer whose reader went away.
EXIT_STDOUT_CLOSED = 141


def stdout_closed() -> int:
    """The reader of stdout went away (``| head``): no traceback, nothing more written."""
    # Python would also fail flushing stdout at exit; point it at /dev/null first.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_STDOUT_CLOSED
