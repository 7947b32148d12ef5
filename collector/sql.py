"""SQL text shared by both engines: queries are written with ``?`` placeholders."""

from __future__ import annotations


def placeholders(sql: str, paramstyle: str) -> str:
    """Rewrite the shared ``?`` placeholders for a ``format``/``pyformat`` driver (psycopg)."""
    return sql.replace("?", "%s") if paramstyle in ("format", "pyformat") else sql
