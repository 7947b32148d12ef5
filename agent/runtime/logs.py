"""structlog set-up for agent, collector and simulator: JSON in production, readable on a TTY.

Every line goes to stderr (stdout is for what a command prints), carries the logger's name
(``logger``), and, when stderr is the journal (systemd sets ``JOURNAL_STREAM`` to its
``device:inode``), starts with the syslog priority as ``<N>`` so that journald files it at that
priority and ``journalctl -p warning`` filters (sd-daemon(3), SyslogLevelPrefix= defaults on).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any, Literal

import structlog

LogFormat = Literal["auto", "json", "console"]

# Keys whose values are never logged, whatever a call site passes.
SECRET_KEYS = frozenset({"password", "passwd", "secret", "private_key", "token", "authorization"})


def _redact(_logger: object, _method: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    for key in list(event):
        if key.lower() in SECRET_KEYS:
            event[key] = "[redacted]"
    return event


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at the moment of writing (test runners swap and close it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


# syslog(3) priorities by structlog level name.
PRIORITIES = {"critical": 2, "exception": 3, "error": 3, "warning": 4, "warn": 4, "info": 6, "debug": 7}


def stderr_is_journal(environ: Mapping[str, str] | None = None) -> bool:
    """True when fd 2 is the journal stream systemd named in ``JOURNAL_STREAM`` (dev:inode)."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    try:
        st = os.fstat(2)
        return bool(dev and ino) and (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (OSError, ValueError):
        return False


class _PriorityPrefix:
    """Wraps the renderer: ``<N>`` before each line, N the level's syslog priority."""

    def __init__(self, renderer: structlog.typing.Processor) -> None:
        self.renderer = renderer

    def __call__(self, logger: object, method: str, event: structlog.typing.EventDict) -> str:
        priority = PRIORITIES.get(str(event.get("level", method)), 6)
        rendered = self.renderer(logger, method, event)
        text = rendered.decode("utf-8") if isinstance(rendered, bytes) else str(rendered)
        return f"<{priority}>{text}"


class _NamedLogger(structlog.PrintLogger):
    def __init__(self, file: Any, name: str) -> None:
        super().__init__(file)
        self.name = name


def _add_logger_name(
    logger: object, _method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    event.setdefault("logger", getattr(logger, "name", "camsentry"))
    return event


def configure_logging(
    level: str = "info", fmt: LogFormat = "auto", *, journal: bool | None = None, cache: bool = True
) -> None:
    """Route structlog and stdlib logging to stderr; call once per process, after importing zeep.

    ``journal``: prefix lines with ``<N>``; None detects it (``stderr_is_journal``). ``cache``:
    loggers keep this configuration once used (services); one-shot commands pass False."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    if stderr_is_journal() if journal is None else journal:
        renderer = _PriorityPrefix(renderer)
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    # onvif-zeep calls logging.basicConfig(level=INFO) on import; take the root logger back.
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    logging.basicConfig(stream=sys.stderr, level=max(numeric, logging.WARNING), format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *args: _NamedLogger(_CurrentStderr(), str(args[0]) if args else "camsentry"),
        cache_logger_on_first_use=cache,
    )
