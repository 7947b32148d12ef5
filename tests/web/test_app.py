"""The web view's rules through Flask's test client: login, anonymous refusal on every route,
CSRF, roles, rate limiting, audit under the logged-in name, downloads in every format."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from collector.reports.catalog import FORMATS, REPORTS
from tests.web.conftest import BASE, Web, csrf_of

# Strings only estate data contains: an anonymous response must hold none of them.
ESTATE_STRINGS = ("127.20.0", "hikvision", "demo-hq", "Demo Department", "V-", "demo-pi")


def every_get_route(web: Web) -> list[str]:
    some_violation = "V-0"
    paths = []
    for rule in web.app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or rule.endpoint in ("login_form",):
            continue
        path = rule.rule
        path = path.replace("<site>", "demo-hq").replace("<path:device_id>", "mac:44:19:b6:13:6b:49")
        path = path.replace("<vid>", some_violation).replace("<path:ref>", "demo-pi/b0000000000000a1/1")
        path = path.replace("<name>", "inventory").replace("<fmt>", "csv")
        paths.append(path)
    return paths


def test_anonymous_requests_get_no_estate_data(web: Web) -> None:
    client = web.client()
    routes = every_get_route(web)
    assert "/static/style.css" in routes and "/" in routes and len(routes) >= 12
    for path in routes:
        response = client.get(path, base_url=BASE)
        body = response.get_data(as_text=True)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), path
        assert not any(s in body for s in ESTATE_STRINGS), path
    for rule in web.app.url_map.iter_rules():
        if "POST" in (rule.methods or set()) and rule.endpoint != "login":
            path = rule.rule.replace("<site>", "demo-hq").replace("<path:device_id>", "x")
            path = path.replace("<vid>", "V-0").replace("<action>", "resolve")
            assert client.post(path, base_url=BASE).status_code == 401, path


def test_login_sets_a_secure_session_cookie(web: Web) -> None:
    client = web.client()
    response = web.post_login(client, "victor", "viewer-password-12")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("camsentry_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = client.get("/", base_url=BASE).get_data(as_text=True)
    assert 'data-figure="devices">8<' in page and "victor (viewer)" in page


def test_wrong_password_and_rate_limit(web: Web) -> None:
    client = web.client()
    for _ in range(5):
        assert web.post_login(client, "olive", "wrong-password-xx").status_code == 401
    # Now even the right password is refused for a while.
    assert web.post_login(client, "olive", "operator-password-1").status_code == 429
    web.clock.advance(16 * 60)
    assert web.post_login(client, "olive", "operator-password-1").status_code == 302
    events = [(e.username, e.action, e.target) for e in _audit(web)]
    assert ("-", "login_failed", "olive") in events and ("-", "login_rate_limited", "olive") in events
    assert ("olive", "login", "olive") in events


def test_login_form_without_its_token_is_refused(web: Web) -> None:
    client = web.client()
    response = client.post(
        "/login", data={"username": "olive", "password": "operator-password-1"}, base_url=BASE
    )
    assert response.status_code == 400 and "camsentry_session" not in response.headers.get("Set-Cookie", "")


def first_open(web: Web, client: FlaskClient) -> str:
    page = client.get("/violations?state=open", base_url=BASE).get_data(as_text=True)
    return page.split('data-violation="', 1)[1].split('"', 1)[0]


def test_form_without_csrf_token_is_refused(web: Web) -> None:
    client = web.login("olive")
    vid = first_open(web, client)
    response = client.post(f"/violations/{vid}/acknowledge", data={"reason": "x"}, base_url=BASE)
    assert response.status_code == 400
    response = client.post(
        f"/violations/{vid}/acknowledge", data={"reason": "x", "csrf_token": "forged"}, base_url=BASE
    )
    assert response.status_code == 400
    assert 'id="state">open<' in client.get(f"/violations/{vid}", base_url=BASE).get_data(as_text=True)


def test_viewer_is_refused_operator_actions(web: Web) -> None:
    client = web.login("victor")
    vid = first_open(web, client)
    token = csrf_of(client.get(f"/violations/{vid}", base_url=BASE).get_data(as_text=True))
    response = client.post(
        f"/violations/{vid}/acknowledge", data={"reason": "mine now", "csrf_token": token}, base_url=BASE
    )
    assert response.status_code == 403
    assert 'id="state">open<' in client.get(f"/violations/{vid}", base_url=BASE).get_data(as_text=True)
    assert ("victor", "refused_acknowledge", vid) in [(e.username, e.action, e.target) for e in _audit(web)]


def test_operator_lifecycle_is_audited_under_their_name(web: Web) -> None:
    client = web.login("olive")
    vid = first_open(web, client)
    token = csrf_of(client.get(f"/violations/{vid}", base_url=BASE).get_data(as_text=True))
    response = client.post(
        f"/violations/{vid}/acknowledge",
        data={"reason": "removal booked", "csrf_token": token},
        base_url=BASE,
    )
    assert response.status_code == 302
    response = client.post(
        f"/violations/{vid}/accept-risk",
        data={"reason": "awaiting contractor", "until": "2027-01-31", "csrf_token": token},
        base_url=BASE,
    )
    assert response.status_code == 302
    page = client.get(f"/violations/{vid}", base_url=BASE).get_data(as_text=True)
    assert 'id="state">risk_accepted<' in page
    assert page.count('<td class="who">olive</td>') == 2
    missing = client.post(
        f"/violations/{vid}/resolve", data={"reason": "", "csrf_token": token}, base_url=BASE
    )
    assert missing.status_code == 409  # a reason is required; the store says so
    actions = [(e.username, e.action) for e in _audit(web)]
    assert ("olive", "acknowledge") in actions and ("olive", "accept-risk") in actions


def test_logout_ends_the_session(web: Web) -> None:
    client = web.login("victor")
    token = csrf_of(client.get("/", base_url=BASE).get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}, base_url=BASE).status_code == 302
    assert client.get("/", base_url=BASE).status_code == 302


def test_sessions_expire(web: Web) -> None:
    client = web.login("victor")
    web.clock.advance(9 * 3600)
    assert client.get("/", base_url=BASE).status_code == 302


@pytest.mark.parametrize("name", REPORTS)
def test_every_report_downloads_in_every_format(web: Web, name: str) -> None:
    client = web.login("victor")
    assert client.get(f"/reports/{name}", base_url=BASE).status_code == 200
    for fmt in FORMATS:
        response = client.get(f"/reports/{name}.{fmt}", base_url=BASE)
        assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
        if fmt == "json":
            json.loads(response.get_data(as_text=True))


def test_device_page_shows_verified_envelope_and_bundle(web: Web) -> None:
    client = web.login("victor")
    page = client.get("/devices/demo-hq/mac:44:19:b6:f0:28:1e", base_url=BASE).get_data(as_text=True)
    assert "sold as hilook" in page and 'data-verdict="verified"' in page and "CAM-0005" in page
    bundle = client.get("/devices/demo-hq/mac:44:19:b6:f0:28:1e/bundle", base_url=BASE)
    assert json.loads(bundle.get_data(as_text=True))["format"] == "camsentry-evidence/1"


def _audit(web: Web) -> list:  # type: ignore[type-arg]
    from collector.users import UserStore

    conn = web.store.new_database()
    try:
        return UserStore(conn).audit()
    finally:
        conn.close()


def test_quarantine_is_for_operators_and_carries_their_name(web: Web) -> None:
    from collector.policy.model import load_policy
    from collector.web.app import WebContext, create_app
    from tests.support.demo_estate import DEMO_POLICY

    sent: list[tuple[Any, ...]] = []

    def send(*args: Any, issued_by: str) -> int:
        sent.append((*args, issued_by))
        return 41

    policy = load_policy(DEMO_POLICY)
    web.app = create_app(
        WebContext(store=web.store, policy=lambda: policy, clock=web.clock, send_command=send)
    )
    page = "/devices/demo-hq/mac:44:19:b6:13:6b:49"
    viewer = web.login("victor")
    body = viewer.get(page, base_url=BASE).get_data(as_text=True)
    assert 'id="quarantine"' not in body
    refused = viewer.post(page + "/quarantine", data={"csrf_token": csrf_of(body)}, base_url=BASE)
    assert refused.status_code == 403 and not sent
    operator = web.login("olive")
    body = operator.get(page, base_url=BASE).get_data(as_text=True)
    assert 'id="quarantine"' in body
    done = operator.post(page + "/quarantine", data={"csrf_token": csrf_of(body)}, base_url=BASE)
    assert done.status_code == 302
    ((site, agent, action, address, params, who),) = sent
    assert (site, agent, str(action), address, who) == (
        "demo-hq",
        "demo-pi",
        "quarantine",
        "127.20.0.1",
        "olive",
    )
    assert "recorders" in params
    assert ("olive", "quarantine", "demo-hq/127.20.0.1", "command 41") in [
        (e.username, e.action, e.target, e.detail) for e in _audit(web)
    ]


def test_agents_page_shows_health(web: Web) -> None:
    page = web.login("victor").get("/agents", base_url=BASE).get_data(as_text=True)
    assert (
        '<td class="outbox">3</td>' in page and "connected" in page and "127.20.0.9:8080: unreachable" in page
    )


def test_inventory_downloads_keep_the_filters(web: Web) -> None:
    client = web.login("victor")
    page = client.get("/inventory?maker=dahua&restricted=yes", base_url=BASE).get_data(as_text=True)
    assert (
        'data-figure="devices">3<' in page
        and "csrf_token" not in page.split('id="filters"')[1].split("</form>")[0]
    )
    rows = json.loads(
        client.get("/reports/inventory.json?maker=dahua&restricted=yes", base_url=BASE).get_data()
    )
    assert rows["figures"]["devices"] == 3


def test_a_health_body_that_does_not_decode_is_one_named_problem() -> None:
    from collector.reports.health import health_of

    broken = health_of({"outbox": {"depth": "many"}}, "2026-11-23T12:00:00.000Z")
    assert len(broken.problems) == 1 and "does not decode" in broken.problems[0]
