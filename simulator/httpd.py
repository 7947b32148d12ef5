"""HTTP edge: one aiohttp application, one listening socket per camera address (the I/O side of camera.py).

The handler finds the camera by the local address the connection arrived on, so 1,000 cameras share one
application and one handler. Transport-level knobs (latency, hang, drop, slow drip) live here; the
body-level ones are pure functions in hostile.py.
"""

from __future__ import annotations

import asyncio
from email.utils import format_datetime

import structlog
from aiohttp import web

from simulator.camera import Camera

log = structlog.get_logger("simulator.httpd")

MAX_BODY_BYTES = 64 * 1024
CAMERAS_KEY = web.AppKey("cameras", dict[tuple[str, int], Camera])
STOPPING_KEY = web.AppKey("stopping", asyncio.Event)


def _camera(request: web.Request) -> Camera:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    cameras = request.app[CAMERAS_KEY]
    if not sockname or (sockname[0], sockname[1]) not in cameras:
        raise web.HTTPNotFound()
    return cameras[(sockname[0], sockname[1])]


def _headers(cam: Camera) -> dict[str, str]:
    wire = cam.spec.profile.wire
    # Date from the camera's own clock: a skewed camera shows its skew in every HTTP answer too.
    headers = {
        "Server": cam.spec.profile.server_header or "httpd",
        "Date": format_datetime(cam.now(), usegmt=True),
    }
    if wire.connection_close:
        headers["Connection"] = "close"
    return headers


async def _never(request: web.Request) -> web.StreamResponse:
    """Accept and never answer: hold the connection until the client leaves or the fleet stops."""
    await request.app[STOPPING_KEY].wait()
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError


def _drop(request: web.Request) -> web.StreamResponse:
    if request.transport is not None:
        request.transport.abort()  # RST, no bytes: what a crashing firmware web server does
    raise asyncio.CancelledError


async def login_page(request: web.Request) -> web.StreamResponse:
    cam = _camera(request)
    return web.Response(
        body=cam.spec.profile.login_html.encode(),
        content_type="text/html",
        charset="utf-8",
        headers=_headers(cam),
    )


async def soap(request: web.Request) -> web.StreamResponse:
    cam = _camera(request)
    knobs = cam.spec.knobs
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=request.content_length)
    data = await request.content.read(MAX_BODY_BYTES + 1)
    reply = cam.handle_soap(data)
    hostile = knobs.applies_to(reply.operation)
    if hostile and knobs.latency_s > 0:
        await asyncio.sleep(knobs.latency_s)
    if hostile and knobs.hang:
        return await _never(request)
    if hostile and knobs.drop:
        return _drop(request)
    body, ctype = cam.hostile_body(reply)
    headers = _headers(cam)
    headers["Content-Type"] = ctype
    if hostile and knobs.slow_drip_chunk > 0:
        resp = web.StreamResponse(status=reply.status, headers=headers)
        resp.content_length = len(body)
        await resp.prepare(request)
        for start in range(0, len(body), knobs.slow_drip_chunk):
            await resp.write(body[start : start + knobs.slow_drip_chunk])
            await asyncio.sleep(knobs.slow_drip_interval_s)
        await resp.write_eof()
        return resp
    return web.Response(status=reply.status, body=body, headers=headers)


def make_app(cameras: dict[tuple[str, int], Camera], stopping: asyncio.Event) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[CAMERAS_KEY] = cameras
    app[STOPPING_KEY] = stopping
    app.router.add_get("/", login_page)
    app.router.add_get("/index.html", login_page)
    app.router.add_get("/doc/page/login.asp", login_page)
    app.router.add_post("/onvif/{service:.*}", soap)
    return app
