"""Every structlog event the code names is snake_case: one name per happening, greppable and
stable for log queries (``journalctl ... | jq 'select(.event == "broker_disconnected")'``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEVELS = {"debug", "info", "warning", "warn", "error", "exception", "critical"}
SNAKE = re.compile(r"[a-z][a-z0-9_]*")


def logged_events() -> list[tuple[str, int, str]]:
    found = []
    for package in ("agent", "collector", "simulator"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in LEVELS
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in ("log", "logger")
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    found.append((str(path.relative_to(ROOT)), node.lineno, node.args[0].value))
    return found


def test_event_names_are_snake_case() -> None:
    events = logged_events()
    assert len(events) > 100  # the walk found the code's log calls
    assert [e for e in events if not SNAKE.fullmatch(e[2])] == []
