"""Sweep benchmark: camsentry's ONVIF sweep vs a naive onvif-zeep loop, same simulated fleet, same run.

    python bench/bench_sweep.py [--cameras 1000] [--naive 60]

Starts ``camsentry-sim run`` with N healthy cameras (mixed vendors) on loopback, then measures,
each in its own fresh process so CPU and peak RSS are that client's alone:

* ours:  ``Sweeper.sweep`` over all N cameras (one zeep Document for the process, a light
         client per camera, 10 device operations + the security checks per camera);
* naive: ``onvif.ONVIFCamera(...)`` per camera, the same device operations, cameras kept (as a
         daemon keeps its clients), over a subset of the fleet; reported per camera.

The naive client is onvif-zeep 0.2.12 itself (synchronous ``ONVIFCamera``), fetched with pip
into a temporary directory because onvif-zeep-async overwrites its ``onvif`` package in our venv.
Targets (issue 5): >= 10x less CPU per camera than naive; peak RSS < 80 MB for 1,000 cameras.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CPU_TARGET = 10.0
RSS_TARGET_MB = 80.0
PROFILES = [
    "hikvision-ds-2cd2143g0-i-v5.5.61",
    "dahua-ipc-hdbw2431e-s-v2.800-210302",
    "axis-m5525-e-v8.40.1.1",
    "hilook-ipc-b140h-v5.5.800",
    "amcrest-ip2m-841b-v2.800-200330",
    "uniview-ipc322lb-v0204",
    "bosch-flexidome-ip-4000i-v7.80",
    "lorex-lnb4321b-v2.800-191122",
]
NAIVE_OPERATIONS = [
    "GetSystemDateAndTime",
    "GetDeviceInformation",
    "GetNetworkInterfaces",
    "GetScopes",
    "GetHostname",
    "GetDNS",
    "GetNTP",
    "GetNetworkProtocols",
    "GetUsers",
]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _Phases:
    """CPU, wall time and RSS of a child: from start, after setup (imports, clients), of the sweep."""

    def __init__(self) -> None:
        self.cpu0, self.t0 = _cpu(), time.perf_counter()
        self.setup_cpu = self.rss_setup = self.cpu1 = self.t1 = 0.0

    def sweep_starts(self) -> None:
        self.setup_cpu, self.rss_setup = _cpu() - self.cpu0, _rss_mb()
        self.cpu1, self.t1 = _cpu(), time.perf_counter()

    def result(self, cameras: int, authenticated: int, identified: int | None) -> dict[str, Any]:
        return {
            "cameras": cameras,
            "wall_s": time.perf_counter() - self.t1,
            "total_wall_s": time.perf_counter() - self.t0,
            "setup_cpu_s": self.setup_cpu,
            "sweep_cpu_s": _cpu() - self.cpu1,
            "total_cpu_s": _cpu() - self.cpu0,
            "rss_after_setup_mb": self.rss_setup,
            "peak_rss_mb": _rss_mb(),
            "authenticated": authenticated,
            "identified": identified,
        }


# ---------------------------------------------------------------- child processes


def child_ours(manifest: list[dict[str, Any]]) -> dict[str, Any]:
    phases = _Phases()
    from agent.onvif import client

    client.preload()
    from agent.runtime.logs import configure_logging

    configure_logging("warning")
    from agent.onvif.sweep import Sweeper
    from agent.onvif.targets import CameraTarget

    sweeper = Sweeper(concurrency=16, per_camera_timeout_s=20.0)
    targets = [CameraTarget(m["address"], m["port"], m["username"], m["password"]) for m in manifest]
    phases.sweep_starts()
    records = sweeper.sweep(targets)
    return phases.result(
        len(targets),
        authenticated=sum(1 for r in records if r["authenticated"]),
        identified=sum(1 for r in records if r["maker"]),
    )


def child_naive(manifest: list[dict[str, Any]], package_dir: str) -> dict[str, Any]:
    sys.path.insert(0, package_dir)
    phases = _Phases()
    import logging

    from onvif import ONVIFCamera  # onvif-zeep 0.2.12 (synchronous)

    logging.getLogger().setLevel(logging.WARNING)
    wsdl = os.path.join(package_dir, "wsdl")
    cameras = []
    ok = 0
    phases.sweep_starts()
    for m in manifest:
        cam = ONVIFCamera(m["address"], m["port"], m["username"], m["password"], wsdl)
        dev = cam.devicemgmt
        for op in NAIVE_OPERATIONS:
            getattr(dev, op)()
        dev.GetServices({"IncludeCapability": False})
        cameras.append(cam)
        ok += 1
    return phases.result(len(manifest), authenticated=ok, identified=None)


# ---------------------------------------------------------------- orchestration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def naive_package(tmp: Path) -> str:
    """onvif-zeep 0.2.12 unpacked (package and its WSDLs) in ``tmp``; pip's cache serves repeats."""
    target = tmp / "onvif-zeep-0.2.12"
    if (target / "onvif" / "client.py").exists():
        return str(target)
    wheels = tmp / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "onvif_zeep==0.2.12", "-d", str(wheels)],
        check=True,
    )
    files: dict[str, bytes] = {}
    for wheel in wheels.glob("onvif_zeep-0.2.12-*.whl"):
        with zipfile.ZipFile(wheel) as z:
            files.update({n: z.read(n) for n in z.namelist() if not n.endswith("/")})
    for sdist in wheels.glob("onvif_zeep-0.2.12.tar.gz"):
        with tarfile.open(sdist) as t:
            for member in t.getmembers():
                extracted = t.extractfile(member) if member.isfile() else None
                if extracted is not None:
                    files[member.name.split("/", 1)[1]] = extracted.read()
    for name, data in files.items():
        if name.startswith("onvif/"):
            rel = name
        elif "wsdl/" in name:
            rel = "wsdl/" + name.split("wsdl/", 1)[1]
        else:
            continue
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    if not (target / "onvif" / "client.py").exists() or not (target / "wsdl" / "devicemgmt.wsdl").exists():
        raise RuntimeError("onvif-zeep 0.2.12 could not be unpacked")
    return str(target)


def start_fleet(tmp: Path, cameras: int) -> tuple[subprocess.Popen[str], list[dict[str, Any]]]:
    fleet = tmp / "bench-fleet.toml"
    mix = "\n".join(f'[[mix]]\nprofile = "{p}"\nweight = 1\n' for p in PROFILES)
    fleet.write_text(f'[fleet]\nbase_address = "127.23.0.1"\nseed = "bench"\ntotal = {cameras}\n\n{mix}')
    manifest = tmp / "manifest.json"
    cmd = [sys.executable, "-m", "simulator.cli", "--log-level", "warning", "run", "--fleet", str(fleet)]
    cmd += ["--manifest", str(manifest), "--port", str(_free_port()), "--no-discovery"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if sel.select(timeout=deadline - time.monotonic()):
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"simulator exited with {proc.wait()}")
            if '"ready"' in line:
                return proc, json.loads(manifest.read_text())
    proc.kill()
    raise RuntimeError("simulator not ready within 180 s")


def run_child(kind: str, manifest: list[dict[str, Any]], tmp: Path, extra: list[str]) -> dict[str, Any]:
    path = tmp / f"{kind}-manifest.json"
    path.write_text(json.dumps(manifest))
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--manifest", str(path), *extra],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--naive", type=int, default=60, help="cameras for the naive loop (a subset)")
    parser.add_argument("--child", choices=("ours", "naive"))
    parser.add_argument("--manifest")
    parser.add_argument("--package-dir")
    args = parser.parse_args()
    if args.child:
        manifest = json.loads(Path(args.manifest).read_text())
        result = child_ours(manifest) if args.child == "ours" else child_naive(manifest, args.package_dir)
        print(json.dumps(result))
        return 0

    with tempfile.TemporaryDirectory(prefix="camsentry-bench-sweep-") as tmpdir:
        tmp = Path(tmpdir)
        package = naive_package(Path(tempfile.gettempdir()) / "camsentry-bench-cache")
        sim, manifest = start_fleet(tmp, args.cameras)
        try:
            ours = run_child("ours", manifest, tmp, [])
            naive = run_child("naive", manifest[: args.naive], tmp, ["--package-dir", package])
        finally:
            sim.terminate()
            sim.wait(30)

    def row(name: str, r: dict[str, Any]) -> None:
        n = r["cameras"]
        print(
            f"{name:<7} {n:>6} cams  wall {r['wall_s']:7.2f} s  sweep CPU {r['sweep_cpu_s']:7.2f} s "
            f"({1000 * r['sweep_cpu_s'] / n:6.1f} ms/cam)  total CPU {r['total_cpu_s']:7.2f} s "
            f"({1000 * r['total_cpu_s'] / n:6.1f} ms/cam)  peak RSS {r['peak_rss_mb']:6.1f} MB "
            f"(+{(r['peak_rss_mb'] - r['rss_after_setup_mb']) * 1024 / n:6.1f} KB/cam)  "
            f"authenticated {r['authenticated']}/{n}"
        )

    row("ours", ours)
    row("naive", naive)
    ours_cpu = ours["total_cpu_s"] / ours["cameras"]
    naive_cpu = naive["sweep_cpu_s"] / naive["cameras"]
    ratio = naive_cpu / ours_cpu
    cpu_ok = ratio >= CPU_TARGET
    rss_ok = ours["peak_rss_mb"] < RSS_TARGET_MB
    naive_rss_per_cam = (naive["peak_rss_mb"] - naive["rss_after_setup_mb"]) / naive["cameras"]
    print(
        f"CPU per camera: naive {1000 * naive_cpu:.1f} ms vs ours {1000 * ours_cpu:.1f} ms "
        f"(ours includes imports and the one WSDL parse) = {ratio:.1f}x less "
        f"(target >= {CPU_TARGET:.0f}x) {'PASS' if cpu_ok else 'MISS'}"
    )
    print(
        f"peak RSS for {ours['cameras']} cameras: {ours['peak_rss_mb']:.1f} MB "
        f"(target < {RSS_TARGET_MB:.0f} MB) "
        f"{'PASS' if rss_ok else 'MISS'}; naive grows {naive_rss_per_cam:.2f} MB per camera "
        f"(~{naive['rss_after_setup_mb'] + naive_rss_per_cam * ours['cameras']:.0f} MB for {ours['cameras']})"
    )
    print(f"identified {ours['identified']}/{ours['cameras']} cameras")
    return 0 if cpu_ok and rss_ok else 1


if __name__ == "__main__":
    sys.exit(main())
