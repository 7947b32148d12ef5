"""The web view as a Flask application: login, sessions, CSRF, roles, pages and downloads.

``create_app(context)`` builds it from a ``WebContext`` (the store, policy loader, clock and,
if the collector can sign commands, a command sender). Every route but ``/login`` requires a
session, including the style sheet; an anonymous request is sent to ``/login`` and sees no
estate data. Every POST carries the session's CSRF token (the login form a cookie-bound one).
Only operators change violations or send quarantine commands; each such action, and each login,
logout and refused attempt, is written to the web audit trail under the logged-in name.
"""

from __future__ import annotations

import argparse
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog
from flask import Flask, Response, abort, g, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as BaseResponse

from agent.identify.tables import Tables, load_tables
from agent.runtime.clock import Clock, SystemClock
from agent.wire.commands import CommandAction
from agent.wire.enrol import key_fingerprint
from agent.wire.envelope import decode, verify
from agent.wire.errors import WireError
from agent.wire.signing import KeyFormatError, public_key_from_text
from collector.evidence import build_bundle, envelopes_for_device, envelopes_for_refs
from collector.policy.cli import parse_until
from collector.policy.model import Policy
from collector.reports.catalog import FORMATS, REPORTS, TITLES, ReportOptions, build_report, render_named
from collector.reports.estate import DeviceView, Estate, load_estate
from collector.reports.health import health_of
from collector.reports.html import STYLE, report_fragment
from collector.reports.inventory import RESTRICTED_CHOICES, InventoryFilter
from collector.reports.refs import parse_evidence_ref
from collector.reports.status import status_rows
from collector.store import Store
from collector.users import Role, Session, UserStore
from collector.violations import TransitionError, ViolationState, ViolationStore
from collector.web.limits import LoginLimiter

log = structlog.get_logger("camsentry.collector.web")

SESSION_COOKIE = "camsentry_session"
LOGIN_CSRF_COOKIE = "camsentry_login"
LOGIN_TOKEN_CHARS = 43  # secrets.token_urlsafe(32)
MAX_REASON_CHARS = 1000
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "table": "text/plain; charset=utf-8",
}
EXTENSIONS = {"csv": "csv", "json": "json", "html": "html", "table": "txt"}

CommandSender = Callable[..., Any]


@dataclass(frozen=True)
class WebContext:
    store: Store
    policy: Callable[[], Policy]
    clock: Clock = field(default_factory=SystemClock)
    send_command: CommandSender | None = None
    silent_after_s: float = 900.0
    # Cookies are marked Secure always; browsers accept them from http://127.0.0.1 and localhost.
    secure_cookies: bool = True
    tables: Tables | None = None


def create_app(ctx: WebContext) -> Flask:
    app = Flask(__name__, static_folder=None, template_folder=str(Path(__file__).with_name("templates")))
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, TEMPLATES_AUTO_RELOAD=False)
    limiter = LoginLimiter()
    tables = ctx.tables or load_tables()
    style = (STYLE + Path(__file__).with_name("static").joinpath("style.css").read_text()).encode()

    def conn() -> Any:
        if "conn" not in g:
            g.conn = ctx.store.new_database()
        return g.conn

    def users() -> UserStore:
        if "users" not in g:
            g.users = UserStore(conn())
        return g.users  # type: ignore[no-any-return]

    def violations() -> ViolationStore:
        return ViolationStore(conn(), clock=ctx.clock)

    def estate() -> Estate:
        if "estate" not in g:
            g.estate = load_estate(ctx.store, ctx.policy(), ctx.clock.now(), tables=tables)
        return g.estate  # type: ignore[no-any-return]

    def client() -> str:
        return request.remote_addr or "?"

    def audit(action: str, target: str = "", detail: str = "", username: str | None = None) -> None:
        who = username if username is not None else current().username
        users().record(who, action, target, detail[:MAX_REASON_CHARS], client(), now=ctx.clock.now())
        log.info("web_action", user=who, action=action, target=target, client=client())

    def current() -> Session:
        session: Session = g.session
        return session

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        c = g.pop("conn", None)
        if c is not None:
            c.close()

    @app.before_request
    def _require_login() -> BaseResponse | None:
        g.session = None
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            g.session = users().session(token, now=ctx.clock.now())
        if request.endpoint in ("login", "login_form"):
            return None
        if g.session is None:
            if request.method == "GET":
                # No body: the page a stranger is sent away from says nothing about the estate.
                target = url_for("login_form", next=request.full_path.rstrip("?"))
                return Response(status=302, headers={"Location": target})
            abort(401)
        if request.method == "POST":
            sent = request.form.get("csrf_token", "")
            if not hmac.compare_digest(sent.encode(), current().csrf.encode()):
                audit("csrf_refused", request.path)
                abort(400, "the form's CSRF token is missing or wrong: reload the page and try again")
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        nonce = g.get("style_nonce")
        styles = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; style-src {styles}; img-src 'self' data:; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        )
        return response

    def page(template: str, **values: Any) -> str:
        return render_template(template, session=g.session, csrf=current().csrf, **values)

    def require_operator(action: str, target: str) -> None:
        if current().role is not Role.OPERATOR:
            audit("refused_" + action, target, "needs the operator role")
            abort(403, "this needs the operator role")

    # -- login ---------------------------------------------------------------------------

    def _login_page(error: str = "", status: int = 200) -> Response:
        # Kept while the browser has one: a second login page (a favicon redirected here) must not
        # change the token under a form already shown.
        token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if len(token) != LOGIN_TOKEN_CHARS or not token.replace("-", "").replace("_", "").isalnum():
            token = secrets.token_urlsafe(32)
        g.style_nonce = secrets.token_urlsafe(16)
        body = render_template(
            "login.html",
            error=error,
            login_csrf=token,
            next=request.args.get("next", ""),
            nonce=g.style_nonce,
        )
        response = Response(body, status=status, content_type="text/html; charset=utf-8")
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            httponly=True,
            secure=ctx.secure_cookies,
            samesite="Strict",
            path="/login",
        )
        return response

    @app.get("/login")
    def login_form() -> Response:
        return _login_page()

    @app.post("/login")
    def login() -> BaseResponse:
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        sent = request.form.get("csrf_token", "")
        if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
            return _login_page("The form expired: please log in again.", 400)
        username = request.form.get("username", "")[:64]
        password = request.form.get("password", "")[:1024]
        keys = (f"user:{username.lower()}", f"client:{client()}")
        now_s = ctx.clock.monotonic()
        if not limiter.allowed(keys, now_s):
            audit("login_rate_limited", username, username="-")
            return _login_page("Too many failed attempts: wait a few minutes and try again.", 429)
        user = users().authenticate(username, password)
        if user is None:
            limiter.failed(keys, now_s)
            audit("login_failed", username, username="-")
            return _login_page("Wrong user name or password.", 401)
        limiter.succeeded(keys[:1])
        token, _session = users().open_session(user, now=ctx.clock.now())
        audit("login", user.username, username=user.username)
        target = request.form.get("next", "")
        # Only a path on this site: never an open redirect to elsewhere.
        if not target.startswith("/") or target.startswith("//") or target.startswith("/login"):
            target = url_for("dashboard")
        response = redirect(target)
        response.set_cookie(
            SESSION_COOKIE, token, httponly=True, secure=ctx.secure_cookies, samesite="Strict", path="/"
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    @app.post("/logout")
    def logout() -> BaseResponse:
        token = request.cookies.get(SESSION_COOKIE, "")
        audit("logout", current().username)
        users().close_session(token)
        response = redirect(url_for("login_form"))
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/static/style.css")
    def stylesheet() -> Response:
        return Response(style, content_type="text/css; charset=utf-8")

    # -- pages ---------------------------------------------------------------------------

    def _link(ref: str) -> str:
        return url_for("envelope", ref=ref)

    @app.get("/")
    def dashboard() -> str:
        e = estate()
        compliance = build_report("compliance", e)
        removal = build_report("removal-plan", e)
        worst = sorted(
            (v for v in e.violations if v.state in (ViolationState.OPEN, ViolationState.ACKNOWLEDGED)),
            key=lambda v: (SEVERITY_ORDER.get(v.severity, 9), v.site, v.address, v.id),
        )[:10]
        return page(
            "dashboard.html",
            figures=compliance.figures,
            removal=removal.figures,
            chart=removal.charts[0] if removal.charts else "",
            worst=worst,
            agents=len(e.agents),
        )

    @app.get("/inventory")
    def inventory() -> str:
        e = estate()
        report = build_report("inventory", e, _options())
        rows = report.sections[0].rows
        return page(
            "inventory.html",
            report=report,
            rows=rows,
            args=request.args,
            sites=sorted({d.site for d in e.devices}),
            departments=sorted({d.department for d in e.devices if d.department}),
            makers=sorted({d.maker for d in e.devices if d.maker}),
            query=request.query_string.decode(),
        )

    def _device(site: str, device_id: str) -> DeviceView:
        for d in estate().devices:
            if d.site == site and d.device_id == device_id:
                return d
        abort(404, "no such device")

    @app.get("/devices/<site>/<path:device_id>")
    def device(site: str, device_id: str) -> str:
        d = _device(site, device_id)
        keys = {(a.site, a.agent): a.public_key for a in ctx.store.agents()}
        checked = []
        for stored in envelopes_for_device(conn(), site, device_id):
            checked.append((stored, _verify_text(stored.payload, keys.get((stored.site, stored.agent)))))
        rows = [v for v in estate().violations if v.site == site and v.device_id == device_id]
        return page(
            "device.html",
            d=d,
            envelopes=checked,
            violations=rows,
            fingerprint=_fingerprint(keys.get((d.site, d.agent))),
            can_quarantine=ctx.send_command is not None,
        )

    @app.get("/devices/<site>/<path:device_id>/bundle")
    def device_bundle(site: str, device_id: str) -> Response:
        _device(site, device_id)
        keys = {(a.site, a.agent): a.public_key for a in ctx.store.agents()}
        envelopes = envelopes_for_device(conn(), site, device_id)
        bundle = build_bundle(
            envelopes, keys, subject={"device": device_id, "site": site}, now=ctx.clock.now()
        )
        audit("evidence_export", f"{site}/{device_id}", f"{len(envelopes)} envelopes")
        return _download(json.dumps(bundle, indent=1), "application/json", "evidence-bundle.json")

    @app.post("/devices/<site>/<path:device_id>/quarantine")
    def quarantine(site: str, device_id: str) -> BaseResponse:
        require_operator("quarantine", f"{site}/{device_id}")
        d = _device(site, device_id)
        if ctx.send_command is None:
            abort(503, "this web view cannot send commands (no collector key or broker configured)")
        recorders = list(ctx.policy().site(site).recorders)
        cid = ctx.send_command(
            site, d.agent, CommandAction.QUARANTINE, d.address, {"recorders": recorders},
            issued_by=current().username,
        )  # fmt: skip
        audit("quarantine", f"{site}/{d.address}", f"command {cid}")
        return redirect(url_for("device", site=site, device_id=device_id))

    @app.get("/envelopes/<path:ref>")
    def envelope(ref: str) -> str:
        try:
            parsed = parse_evidence_ref(ref)
        except ValueError:
            abort(404)
        found = envelopes_for_refs(conn(), [parsed])
        if not found:
            abort(404, "no such envelope")
        keys = {(a.site, a.agent): a.public_key for a in ctx.store.agents()}
        stored = found[0]
        return page(
            "envelope.html",
            ref=ref,
            stored=stored,
            verdict=_verify_text(stored.payload, keys.get((stored.site, stored.agent))),
            fingerprint=_fingerprint(keys.get((stored.site, stored.agent))),
        )

    @app.get("/violations")
    def violations_page() -> str:
        states = [ViolationState(s) for s in request.args.getlist("state") if s in set(ViolationState)]
        rows = violations().list_violations(states=set(states) if states else None)
        return page(
            "violations.html",
            rows=rows,
            states=[s.value for s in ViolationState],
            chosen=[s.value for s in states],
            today=ctx.clock.now().date(),
        )

    @app.get("/violations/<vid>")
    def violation(vid: str) -> str:
        row = violations().get(vid)
        if row is None:
            abort(404)
        return page("violation.html", v=row, trail=violations().audit(vid), today=ctx.clock.now().date())

    @app.post("/violations/<vid>/<action>")
    def violation_action(vid: str, action: str) -> BaseResponse:
        if action not in ("acknowledge", "resolve", "accept-risk"):
            abort(404)
        require_operator(action, vid)
        reason = request.form.get("reason", "").strip()[:MAX_REASON_CHARS]
        store = violations()
        try:
            if action == "acknowledge":
                store.acknowledge(vid, by=current().username, reason=reason)
            elif action == "resolve":
                store.resolve(vid, by=current().username, reason=reason)
            else:
                try:
                    until = parse_until(request.form.get("until", ""))
                except argparse.ArgumentTypeError:
                    abort(400, "give the expiry as YYYY-MM-DD")
                store.accept_risk(vid, by=current().username, reason=reason, until=until)
        except TransitionError as exc:
            audit("refused_" + action, vid, str(exc))
            abort(409, str(exc))
        audit(action, vid, reason)
        return redirect(url_for("violation", vid=vid))

    @app.get("/reports")
    def reports() -> str:
        return page("reports.html", names=REPORTS, titles=TITLES, formats=FORMATS)

    def _options() -> ReportOptions:
        """Report options from the query string, the same names as the CLI's options."""
        since = request.args.get("since", "")
        try:
            since_date = date.fromisoformat(since) if since else None
        except ValueError:
            abort(400, "since: give a date as YYYY-MM-DD")
        makers = tuple(m.lower() for m in request.args.getlist("maker") if m)
        filters = InventoryFilter(
            sites=tuple(v for v in request.args.getlist("site") if v),
            departments=tuple(v for v in request.args.getlist("department") if v),
            makers=makers,
            restricted=_restricted_choice(request.args.get("restricted", "")),
        )
        return ReportOptions(filters=filters, makers=makers or ("hikvision", "dahua"), since=since_date)

    @app.get("/reports/<name>")
    def report(name: str) -> str:
        if name not in REPORTS:
            abort(404)
        built = build_report(name, estate(), _options())
        return page(
            "report.html",
            name=name,
            body=report_fragment(built, link=_link),
            formats=FORMATS,
            query=request.query_string.decode(),
        )

    @app.get("/reports/<name>.<fmt>")
    def report_download(name: str, fmt: str) -> Response:
        if name not in REPORTS or fmt not in FORMATS:
            abort(404)
        text = render_named(name, estate(), fmt, _options())
        audit("report_download", f"{name}.{fmt}")
        return _download(text, CONTENT_TYPES[fmt], f"camsentry-{name}.{EXTENSIONS[fmt]}")

    @app.get("/agents")
    def agents() -> str:
        rows = status_rows(ctx.store, now=ctx.clock.now(), silent_after_s=ctx.silent_after_s)
        keys = {(a.site, a.agent): a.public_key for a in ctx.store.agents()}
        health = {
            (h["site"], h["agent"]): health_of(h["body"], h["ts"] or "") for h in ctx.store.agent_health()
        }
        return page(
            "agents.html",
            rows=rows,
            fingerprints={k: _fingerprint(v) for k, v in keys.items()},
            health=health,
        )

    @app.get("/audit")
    def audit_page() -> str:
        return page("audit.html", events=users().audit())

    return app


def _restricted_choice(value: str) -> str | None:
    """The inventory's ``restricted`` filter: one of the CLI's ``--restricted`` choices, or none."""
    if not value:
        return None
    if value not in RESTRICTED_CHOICES:
        abort(400, f"restricted: use one of {', '.join(RESTRICTED_CHOICES)}")
    return value


def _download(text: str, content_type: str, filename: str) -> Response:
    response = Response(text, content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{quote(filename)}"'
    return response


def _fingerprint(public_key: str | None) -> str:
    if not public_key:
        return "(agent not enrolled)"
    try:
        return key_fingerprint(public_key)
    except ValueError:
        return "(unreadable key)"


def _verify_text(payload: str, public_key: str | None) -> str:
    """'verified' or why not, checked against the key the collector has enrolled for the agent."""
    if not public_key:
        return "not verified: the agent is not enrolled"
    try:
        env = decode(payload.encode("utf-8"), max_bytes=16 * 1024 * 1024)
        verify(env, public_key_from_text(public_key))
    except (WireError, KeyFormatError, ValueError) as exc:
        return f"NOT verified: {exc}"
    return "verified"
