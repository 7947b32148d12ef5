"""``make demo``: the whole system on one machine, then the estate report.

Starts, in a temporary directory: a private Mosquitto on a free port, a simulated
mixed-vendor site, the collector (SQLite), and an agent enrolled with it; waits until
the agent's inventory is in the collector's store; imports an asset register made from the
fleet (with the gaps a real one has); prints the reports, writes every report as an HTML page
to a directory it names; and stops everything it started, also on Ctrl-C, SIGTERM or failure.

``make demo SERVE=1`` (``--serve``) then keeps everything running with the web view on a
loopback port and prints its URL and a one-time login, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from simulator.broker import Broker, running_broker

DEMO_FLEET = Path(__file__).with_name("fleets") / "demo-site.toml"
DEMO_POLICY = Path(__file__).with_name("fleets") / "demo-policy.toml"
SITE, AGENT = "demo-hq", "demo-pi"
INVENTORY_TIMEOUT_S = 120.0
# The last cameras of the fleet are left out of the demo register: found on the network, never
# recorded (the Amcrest, Lorex and generic units of the demo site).
UNREGISTERED_TAIL = 3
REPORTS = ("inventory", "compliance", "reconciliation", "holdings", "patch-status", "removal-plan")
WEB_START_TIMEOUT_S = 30.0


def say(message: str) -> None:
    print(f"[demo] {message}", file=sys.stderr, flush=True)


def run_cli(module: str, *args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


@contextmanager
def process(
    name: str, argv: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    with log.open("w") as log_file:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log_file, text=True, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        say(f"stopped {name}")


def start_fleet(stack: ExitStack, work: Path, fleet: Path) -> list[dict[str, object]]:
    manifest = work / "manifest.json"
    proc = stack.enter_context(
        process(
            "camera simulator",
            [
                sys.executable,
                "-m",
                "simulator.cli",
                "run",
                "--fleet",
                str(fleet),
                "--manifest",
                str(manifest),
            ],
            work / "simulator.log",
        )
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the simulator prints one line once every camera listens
    if not line:
        raise RuntimeError(f"simulator exited: {(work / 'simulator.log').read_text()[-2000:]}")
    ready = json.loads(line)
    cameras: list[dict[str, object]] = json.loads(Path(ready["manifest"]).read_text())
    say(f"simulated site: {len(cameras)} cameras on loopback addresses")
    return cameras


def write_configs(work: Path, broker: Broker, cameras: list[dict[str, object]]) -> tuple[Path, Path]:
    collector_cfg = work / "collector.toml"
    collector_cfg.write_text(
        f'state_dir = "{work / "collector"}"\n'
        f'database = "sqlite:///{work / "collector" / "camsentry.sqlite"}"\n'
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
        f'[policy]\nfile = "{DEMO_POLICY}"\nevaluate_interval_s = 1\n'
        '[logging]\nformat = "json"\n'
    )
    collector_key = run_cli("collector.cli", "--config", str(collector_cfg), "keygen").strip()
    agent_cfg = work / "agent.toml"
    lines = [
        f'site = "{SITE}"',
        f'agent = "{AGENT}"',
        f'state_dir = "{work / "agent"}"',
        "health_interval_s = 30",
        f'[collector]\npublic_key = "{collector_key}"',
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}',
        "[polling]\ninterval_s = 60\nper_camera_timeout_s = 5",
        '[logging]\nformat = "json"',
    ]
    for cam in cameras:
        lines.append(
            f'[[camera]]\naddress = "{cam["address"]}"\nport = {cam["port"]}\n'
            f"username = {json.dumps(cam['username'])}\npassword = {json.dumps(cam['password'])}"
        )
    agent_cfg.write_text("\n".join(lines) + "\n")
    agent_cfg.chmod(0o600)  # it holds camera passwords
    agent_key = run_cli("agent.cli", "keygen", "--config", str(agent_cfg)).strip()
    run_cli(
        "collector.cli", "--config", str(collector_cfg), "agents", "add",
        "--site", SITE, "--agent", AGENT, "--public-key", agent_key,
    )  # fmt: skip
    say(f"enrolled agent {SITE}/{AGENT} with the collector")
    return collector_cfg, agent_cfg


def demo_register(cameras: list[dict[str, object]]) -> str:
    """An asset register for the fleet as a department keeps one (pure): the label's brand as the
    make (so the HiLook is registered as HiLook), MACs in dotted notation, UK dates, the last
    cameras missing, and one asset bought but never installed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["Asset ID", "Location", "Manufacturer", "Model", "Serial Number", "MAC Address", "Purchased"]
    )
    registered = cameras[: max(0, len(cameras) - UNREGISTERED_TAIL)]
    for index, cam in enumerate(registered, start=1):
        mac = str(cam.get("mac") or "").replace(":", "")
        dotted = ".".join(mac[i : i + 4] for i in range(0, len(mac), 4))
        writer.writerow(
            [f"CAM-{index:04d}", SITE, cam.get("brand", ""), cam.get("model", ""), cam.get("serial", ""),
             dotted, f"{1 + index % 28:02d}/{1 + index % 12:02d}/{2019 + index % 4}"]
        )  # fmt: skip
    writer.writerow(
        ["CAM-9001", SITE, "Hikvision", "DS-2CD1023G0E-I", "DS-2CD1023G0E-I20200101AAWR1", "", "01/02/2020"]
    )
    return buffer.getvalue()


def write_html_reports(cli: tuple[str, ...], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in REPORTS:
        path = directory / f"{name}.html"
        path.write_text(run_cli(*cli, "report", name, "--format", "html"))
        written.append(path)
    return written


def serve_web(stack: ExitStack, work: Path, collector_cfg: Path, env: dict[str, str]) -> None:
    """The web view on a free loopback port with a fresh operator account; blocks until Ctrl-C."""
    password = secrets.token_urlsafe(12)
    add = subprocess.run(
        [sys.executable, "-m", "collector.cli", "--config", str(collector_cfg), "users", "add", "demo",
         "--role", "operator", "--password-stdin"],
        input=password + "\n", capture_output=True, text=True, check=False,
    )  # fmt: skip
    if add.returncode != 0:
        raise RuntimeError(f"could not create the demo login: {add.stderr.strip()}")
    web = stack.enter_context(
        process(
            "web view",
            [
                sys.executable,
                "-m",
                "collector.cli",
                "--config",
                str(collector_cfg),
                "web",
                "--listen",
                "127.0.0.1:0",
            ],
            work / "web.log",
            env,
        )
    )
    assert web.stdout is not None
    url = web.stdout.readline().strip()  # the web view prints its URL once it listens
    if not url:
        raise RuntimeError(f"the web view did not start; see {work / 'web.log'}")
    print(f"== Web view ==\n\n{url}\nlog in as: demo\npassword:  {password}  (this run only)\n")
    say("everything keeps running; Ctrl-C stops it all")
    web.wait()
    raise RuntimeError(f"the web view exited with {web.returncode}; see {work / 'web.log'}")


def stored_devices(database: Path) -> int:
    if not database.exists():
        return 0
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM devices").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        db.close()


def evaluated_after_inventory(database: Path) -> bool:
    """True once a policy pass has run over the complete inventory."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        last_device = db.execute("SELECT MAX(last_seen) FROM devices").fetchone()[0]
        last_pass = db.execute("SELECT MAX(at) FROM policy_evaluations").fetchone()[0]
    except sqlite3.Error:
        return False
    finally:
        db.close()
    return bool(last_device and last_pass and last_pass > last_device)


def wait_for_inventory(database: Path, expected: int, procs: dict[str, subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + INVENTORY_TIMEOUT_S
    seen = -1
    while True:
        count = stored_devices(database)
        if count != seen:
            say(f"inventory stored: {count}/{expected} devices")
            seen = count
        if count >= expected:
            return
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"the {name} exited with {proc.returncode}; see {name}.log")
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {count}/{expected} devices arrived in {INVENTORY_TIMEOUT_S:.0f} s")
        time.sleep(0.25)  # polling the store: the demo has no event from another process's database


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--fleet", type=Path, default=DEMO_FLEET)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory for inspection")
    parser.add_argument(
        "--serve", action="store_true", help="keep running with the web view (make demo SERVE=1)"
    )
    parser.add_argument(
        "--reports", type=Path, help="where to write the HTML reports (default: a new temp dir)"
    )
    args = parser.parse_args(argv)
    # `kill`, `timeout` or a closed terminal stop everything the demo started, as Ctrl-C does
    # (SIGTERM used to end the demo alone and leave broker, cameras, agent and collector running).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    work = Path(tempfile.mkdtemp(prefix="camsentry-demo-"))
    keep = args.keep
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        with ExitStack() as stack:
            broker = stack.enter_context(running_broker(work / "broker"))
            say(f"private Mosquitto on {broker.host}:{broker.port}")
            cameras = start_fleet(stack, work, args.fleet)
            collector_cfg, agent_cfg = write_configs(work, broker, cameras)
            collector = stack.enter_context(
                process(
                    "collector",
                    [sys.executable, "-m", "collector.cli", "--config", str(collector_cfg), "run"],
                    work / "collector.log",
                    env,
                )
            )
            agent = stack.enter_context(
                process(
                    "agent",
                    [sys.executable, "-m", "agent.cli", "run", "--config", str(agent_cfg)],
                    work / "agent.log",
                    env,
                )
            )
            database = work / "collector" / "camsentry.sqlite"
            wait_for_inventory(database, len(cameras), {"collector": collector, "agent": agent})
            deadline = time.monotonic() + 30
            while not evaluated_after_inventory(database):
                if time.monotonic() > deadline:
                    raise RuntimeError("no policy evaluation over the inventory within 30 s")
                time.sleep(0.25)  # polling the store, as above
            cli = ("collector.cli", "--config", str(collector_cfg))
            register = work / "asset-register.csv"
            register.write_text(demo_register(cameras))
            say(run_cli(*cli, "register", "import", str(register)).strip())
            print("\n== Estate inventory ==\n")
            print(run_cli(*cli, "report", "inventory"))
            print("== Compliance ==\n")
            print(run_cli(*cli, "report", "compliance"))
            print("== Open violations ==\n")
            print(run_cli(*cli, "violations", "--state", "open"))
            print("== Agents ==\n")
            print(run_cli(*cli, "status"))
            restricted = next(c for c in cameras if str(c.get("vendor", "")).lower() == "hikvision")
            print(f"== What quarantining {restricted['address']} would install (dry run) ==\n")
            print(run_cli(*cli, "quarantine", str(restricted["address"]), "--dry-run"))
            print("== Asset register reconciliation ==\n")
            print(run_cli(*cli, "report", "reconciliation"))
            reports_dir = args.reports or Path(tempfile.mkdtemp(prefix="camsentry-demo-reports-"))
            pages = write_html_reports(cli, reports_dir)
            print(f"== HTML reports (kept after the demo) ==\n\n{reports_dir}/")
            print("\n".join(f"  {p.name}" for p in pages) + "\n")
            if args.serve:
                serve_web(stack, work, collector_cfg, env)
        return 0
    except KeyboardInterrupt:
        say("interrupted; everything started has been stopped")
        return 130
    except RuntimeError as exc:
        keep = True
        say(f"failed: {exc}")
        say(f"logs kept in {work}")
        return 1
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        elif args.keep:
            say(f"kept {work} (collector.toml, the logs, the database)")


if __name__ == "__main__":
    sys.exit(main())
