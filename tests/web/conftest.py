"""The web view over the demo estate: an app with a viewer and an operator, and a logged-in client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from collector.policy.model import load_policy
from collector.store.sqlite import SqliteStore
from collector.users import Role, UserStore
from collector.web.app import WebContext, create_app
from tests.support.clock import FakeClock
from tests.support.demo_estate import DEMO_POLICY, NOW, DemoEstate, demo_estate

PASSWORDS = {"olive": "operator-password-1", "victor": "viewer-password-12"}
BASE = "https://localhost"  # cookies are Secure; the test client sends them over https only


def add_users(database: Path) -> None:
    store = SqliteStore(database)
    conn = store.new_database()
    try:
        users = UserStore(conn)
        users.add("olive", Role.OPERATOR, PASSWORDS["olive"], now=NOW)
        users.add("victor", Role.VIEWER, PASSWORDS["victor"], now=NOW)
    finally:
        conn.close()
        store.close()


@dataclass
class Web:
    app: Flask
    estate: DemoEstate
    clock: FakeClock
    store: SqliteStore

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def login(self, username: str, password: str | None = None) -> FlaskClient:
        client = self.client()
        response = self.post_login(client, username, PASSWORDS[username] if password is None else password)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    def post_login(self, client: FlaskClient, username: str, password: str) -> Any:
        page = client.get("/login", base_url=BASE).get_data(as_text=True)
        token = csrf_of(page)
        return client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token},
            base_url=BASE,
        )


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    estate = demo_estate(tmp_path)
    add_users(estate.database)
    clock = FakeClock(NOW)
    store = SqliteStore(estate.database)
    policy = load_policy(DEMO_POLICY)
    app = create_app(WebContext(store=store, policy=lambda: policy, clock=clock))
    try:
        yield Web(app, estate, clock, store)
    finally:
        store.close()
