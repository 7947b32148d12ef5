"""The one transaction helper: commit, roll back, nest, translate errors (both engines)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collector.store import Database, StoreError, open_store


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    d = open_store(database_url).db
    try:
        with d.transaction("set-up") as tx:
            tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
        yield d
    finally:
        d.close()


def rows(db: Database) -> list[tuple[str, int]]:
    return [(str(k), int(v)) for k, v in db.read("reading", "SELECT k, v FROM t ORDER BY k")]


def test_commit_and_placeholders(db: Database) -> None:
    with db.transaction("writing") as tx:
        tx.executemany("INSERT INTO t (k, v) VALUES (?, ?)", [("a", 1), ("b", 2)])
        assert tx.one("SELECT v FROM t WHERE k = ?", ("b",))[0] == 2
    assert rows(db) == [("a", 1), ("b", 2)]


def insert_then_fail(db: Database, error: Exception) -> None:
    with db.transaction("adding a row") as tx:
        tx.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("a", 1))
        raise error


def insert_twice(db: Database) -> None:
    with db.transaction("adding a row") as tx:
        tx.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("a", 1))
        tx.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("a", 2))


def test_an_error_inside_rolls_back_and_passes_through(db: Database) -> None:
    with pytest.raises(KeyError):
        insert_then_fail(db, KeyError("not the database's fault"))
    assert rows(db) == []


def test_a_driver_error_becomes_store_error_naming_the_operation(db: Database) -> None:
    with pytest.raises(StoreError, match="adding a row failed"):
        insert_twice(db)
    assert rows(db) == []
    with db.transaction("after") as tx:  # the connection is usable again
        tx.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("a", 3))
    assert rows(db) == [("a", 3)]


def nest_then_fail(db: Database) -> None:
    with db.transaction("outer") as outer:
        outer.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("a", 1))
        with db.transaction("inner") as inner:
            assert inner is outer
            inner.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("b", 2))
        assert db.read("inside", "SELECT COUNT(*) FROM t")[0][0] == 2
        raise RuntimeError("the outer one fails after the inner one finished")


def test_a_nested_transaction_joins_the_outer_one(db: Database) -> None:
    with pytest.raises(RuntimeError):
        nest_then_fail(db)
    assert rows(db) == [], "the inner writes were part of the outer transaction"
