"""A site in network namespaces: camera subnet, gateway (routes and NATs; the agent runs here), "internet".

::

    [<p>cams] eth0 10.77.0.10.. ──── cam0 10.77.0.1 [<p>gw] wan0 203.0.113.1 ──── eth0 203.0.113.2 [<p>inet]
      cameras (camsentry-sim)          agent, conntrack, nftables           fake vendor clouds on
      default via 10.77.0.1            ip_forward, masquerade out wan0      192.0.2.0/24, 198.51.100.0/24,
                                       /etc/netns/<p>gw/hosts names clouds  203.0.113.0/24 (RFC 5737)

``build_topology(prefix)`` creates it (removing leftovers with the same prefix first), ``teardown`` or
``cleanup_prefix(prefix)`` removes namespaces and the hosts files, also after a crash.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import structlog

from simulator import netns
from simulator.fleet import address_sequence
from simulator.netns import Namespace

log = structlog.get_logger("simulator.topology")

NETNS_ETC = Path("/etc/netns")
CAMERA_SUBNET = "10.77.0.0/22"  # room for 1,000 cameras
GATEWAY_CAM_SIDE = "10.77.0.1"
FIRST_CAMERA = "10.77.0.10"
GATEWAY_WAN = "203.0.113.1"
INTERNET_WAN = "203.0.113.2"
WAN_PREFIX = 24
READY_TIMEOUT_S = 60.0
# Vendor-cloud names (vendor-facts §4) on documentation addresses, each with the ports devices use.
CLOUD_ENDPOINTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dev.hik-connect.com": ("192.0.2.10", ("443/tcp", "7660/udp")),
    "litedev.hik-connect.com": ("192.0.2.11", ("443/tcp",)),
    "www.easy4ipcloud.com": ("198.51.100.20", ("8800/tcp", "8800/udp")),
    "www.dahuaddns.com": ("198.51.100.21", ("80/tcp",)),
    "ntp.vendor.example": ("203.0.113.123", ("123/udp",)),
}
_DOC_ROUTES = ("192.0.2.0/24", "198.51.100.0/24")


def hosts_file(endpoints: Mapping[str, tuple[str, tuple[str, ...]]] = CLOUD_ENDPOINTS) -> str:
    """/etc/hosts text resolving the vendor-cloud names inside the gateway namespace."""
    lines = ["127.0.0.1 localhost"] + [f"{addr} {name}" for name, (addr, _ports) in sorted(endpoints.items())]
    return "\n".join(lines) + "\n"


def cloud_targets(endpoints: Mapping[str, tuple[str, tuple[str, ...]]] = CLOUD_ENDPOINTS) -> list[str]:
    """Every endpoint as ``address:port/proto``."""
    return [f"{addr}:{port}" for _n, (addr, ports) in sorted(endpoints.items()) for port in ports]


def nat_ruleset(table: str, wan: str) -> str:
    return (
        f"table ip {table} {{\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f'    oifname "{wan}" masquerade\n'
        "  }\n"
        "}\n"
    )


@dataclass
class Topology:
    prefix: str
    cams: Namespace
    gw: Namespace
    inet: Namespace
    camera_subnet: ipaddress.IPv4Network
    camera_addresses: list[str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _files: list[IO[bytes]] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [self.cams.name, self.gw.name, self.inet.name]

    def _start(self, ns: Namespace, argv: Sequence[str]) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
        errors = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the process's life, closed in stop
        self._files.append(errors)
        proc = ns.popen(list(argv), stdout=subprocess.PIPE, stderr=errors)
        self.processes.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT_S)
        line = proc.stdout.readline() if ready else b""
        if not line:
            errors.seek(0)
            tail = errors.read()[-2000:].decode(errors="replace")
            raise RuntimeError(f"{argv[:4]} in {ns.name} did not report ready: {tail}")
        event: dict[str, Any] = json.loads(line)
        return proc, event

    def start_fleet(self, fleet: Path, manifest: Path, port: int = 80) -> list[dict[str, Any]]:
        """Run camsentry-sim in the camera namespace (multicast discovery on eth0); returns the manifest."""
        argv = [
            sys.executable, "-m", "simulator.cli", "--log-format", "json", "run",
            "--fleet", str(fleet), "--manifest", str(manifest),
            "--base-address", self.camera_addresses[0], "--port", str(port),
            "--multicast-interface", "eth0",
        ]  # fmt: skip
        _proc, event = self._start(self.cams, argv)
        if event.get("event") != "ready":
            raise RuntimeError(f"simulator said {event}")
        entries: list[dict[str, Any]] = json.loads(manifest.read_text())
        return entries

    def start_cloud(self, targets: Sequence[str] | None = None) -> subprocess.Popen[bytes]:
        """Run the fake vendor clouds in the internet namespace; read contacts from the process's stdout."""
        argv = [sys.executable, "-m", "simulator.cloud", *(targets or cloud_targets())]
        proc, _event = self._start(self.inet, argv)
        return proc

    def stop_processes(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout:
                proc.stdout.close()
        self.processes.clear()
        for fh in self._files:
            fh.close()
        self._files.clear()

    def teardown(self) -> None:
        self.stop_processes()
        cleanup_prefix(self.prefix)


def cleanup_prefix(prefix: str) -> list[str]:
    """Remove namespaces and /etc/netns entries whose names start with ``prefix`` (crash recovery)."""
    deleted = netns.cleanup_prefix(prefix)
    if NETNS_ETC.is_dir():
        for entry in NETNS_ETC.iterdir():
            if entry.name.startswith(prefix):
                shutil.rmtree(entry, ignore_errors=True)
    return deleted


def _batch(ns: Namespace, commands: list[str]) -> None:
    proc = subprocess.run(
        ["ip", "-n", ns.name, "-batch", "-"], input="\n".join(commands) + "\n", text=True,
        capture_output=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise netns.NetnsError(["ip", "-n", ns.name, "-batch", "-"], proc.returncode, proc.stderr)


def build_topology(
    prefix: str,
    cameras: int = 16,
    endpoints: Mapping[str, tuple[str, tuple[str, ...]]] = CLOUD_ENDPOINTS,
) -> Topology:
    """Create the three namespaces, links, routes, NAT and camera addresses; stale ones are removed first."""
    if not prefix.startswith("cs-") or len(prefix) > 10:
        raise ValueError("prefix must start with 'cs-' and be at most 10 characters (interface names)")
    cleanup_prefix(prefix)
    subnet = ipaddress.IPv4Network(CAMERA_SUBNET)
    # The same sequence the fleet file uses (host parts .0 and .255 skipped), so every camera has its address.
    addresses = list(itertools.islice(address_sequence(FIRST_CAMERA), cameras))
    if cameras < 1 or ipaddress.IPv4Address(addresses[-1]) not in subnet:
        raise ValueError(f"{cameras} cameras do not fit in {subnet}")
    made: list[Namespace] = []
    try:
        cams, gw, inet = (Namespace.create(prefix + role) for role in ("cams", "gw", "inet"))
        made = [cams, gw, inet]
        netns.veth_pair(gw, "cam0", cams, "eth0")
        netns.veth_pair(gw, "wan0", inet, "eth0")
        plen = subnet.prefixlen
        netns.add_address(gw, "cam0", f"{GATEWAY_CAM_SIDE}/{plen}")
        netns.add_address(gw, "wan0", f"{GATEWAY_WAN}/{WAN_PREFIX}")
        netns.add_address(inet, "eth0", f"{INTERNET_WAN}/{WAN_PREFIX}")
        for ns, ifname in ((gw, "cam0"), (gw, "wan0"), (cams, "eth0"), (inet, "eth0")):
            netns.set_up(ns, ifname)
        _batch(cams, [f"addr add {a}/{plen} dev eth0" for a in addresses])
        netns.add_route(cams, "default", GATEWAY_CAM_SIDE)
        for route in _DOC_ROUTES:
            netns.add_route(gw, route, INTERNET_WAN)
        cloud_addrs = sorted({addr for addr, _ in endpoints.values()})
        _batch(inet, [f"addr add {a}/32 dev lo" for a in cloud_addrs])
        netns.add_route(inet, str(subnet), GATEWAY_WAN)  # replies when NAT is off (tests may flush it)
        gw.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        # Multicast probes from the gateway (agent) leave through the camera-side link.
        gw.run(["ip", "route", "add", "239.255.255.250/32", "dev", "cam0"])
        gw.run(["nft", "-f", "-"], input=nat_ruleset("cs_sim_nat", "wan0"))
        etc = NETNS_ETC / gw.name
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text(hosts_file(endpoints))
    except BaseException:
        for ns in reversed(made):
            ns.delete()
        shutil.rmtree(NETNS_ETC / (prefix + "gw"), ignore_errors=True)
        raise
    log.info("topology_built", prefix=prefix, cameras=cameras)
    return Topology(prefix, cams, gw, inet, subnet, addresses)


@contextmanager
def topology(prefix: str, cameras: int = 16) -> Iterator[Topology]:
    """A topology for the ``with`` block; processes stopped and everything removed afterwards."""
    topo = build_topology(prefix, cameras)
    try:
        yield topo
    finally:
        topo.teardown()
