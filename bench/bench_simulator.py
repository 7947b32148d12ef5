"""Simulator scale: start-up time, RSS per camera and a first-answer sweep for a 1,000-camera fleet.

Every camera listens on its own loopback address (HTTP + WS-Discovery UDP) in one process.
Run: .venv/bin/python bench/bench_simulator.py [--cameras N]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.runtime.logs import configure_logging
from simulator.fleet import load_fleet
from simulator.profile import bundled_profiles
from simulator.runner import FleetRunner

START_TARGET_S = 60.0
RSS_TARGET_MB_PER_CAMERA = 1.0
BASE_ADDRESS = "127.61.0.1"
PORT = 28081


def rss_mb() -> float:
    """Current resident set size (not peak) from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def signed_request(username: str, password: str) -> bytes:
    nonce = os.urandom(16)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()  # noqa: S324
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" '
        'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">'
        "<s:Header><wsse:Security><wsse:UsernameToken>"
        f"<wsse:Username>{username}</wsse:Username>"
        '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0'
        f'#PasswordDigest">{digest}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce><wsu:Created>{created}</wsu:Created>"
        "</wsse:UsernameToken></wsse:Security></s:Header>"
        '<s:Body><GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>'
    ).encode()


def ask(entry: dict[str, object]) -> int:
    req = urllib.request.Request(  # noqa: S310 - loopback simulator
        str(entry["xaddr"]),
        data=signed_request(str(entry["username"]), str(entry["password"])),
        headers={"Content-Type": "application/soap+xml"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        resp.read()
        return int(resp.status)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cameras", type=int, default=1000)
    args = parser.parse_args()
    configure_logging("warning")
    data = {
        "fleet": {"base_address": BASE_ADDRESS, "port": PORT, "total": args.cameras, "seed": "bench"},
        "mix": [{"profile": pid} for pid in sorted(bundled_profiles())],
    }
    rss0 = rss_mb()
    t0 = time.perf_counter()
    fleet = load_fleet(data)
    t1 = time.perf_counter()
    runner = FleetRunner(fleet)
    manifest = runner.start()
    t2 = time.perf_counter()
    rss_listening = rss_mb()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(ask, manifest))
        t3 = time.perf_counter()
        rss_served = rss_mb()
    finally:
        runner.stop()
    n = len(manifest)
    ok = statuses.count(200)
    start_s = t2 - t0
    per_cam_mb = (rss_served - rss0) / n
    print(
        f"cameras: {n} ({len(bundled_profiles())} profiles), one loopback address each, HTTP + WS-Discovery"
    )
    print(
        f"fleet file to cameras: {t1 - t0:.3f} s; sockets listening: {t2 - t1:.3f} s; "
        f"total start-up {start_s:.3f} s"
    )
    print(
        f"RSS: {rss0:.1f} MB before, {rss_listening:.1f} MB listening, "
        f"{rss_served:.1f} MB after one request each; {per_cam_mb * 1024:.1f} KB per camera"
    )
    print(
        f"first-answer sweep (digest GetDeviceInformation, 8 client threads): {ok}/{n} OK in {t3 - t2:.2f} s "
        f"= {n / (t3 - t2):,.0f} req/s (client and fleet share this process)"
    )
    good = start_s < START_TARGET_S and per_cam_mb < RSS_TARGET_MB_PER_CAMERA and ok == n
    print(
        f"start-up {start_s:.2f} s (target < {START_TARGET_S:.0f} s), {per_cam_mb * 1024:.1f} KB/camera "
        f"(target < {RSS_TARGET_MB_PER_CAMERA * 1024:.0f} KB), all answered: {ok == n} "
        f"-> {'PASS' if good else 'MISS'}"
    )
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
