"""deploy/install.sh in a throwaway root: installs, reinstalls without clobbering, uninstalls cleanly."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.systemd_tools import HOST_UNITS, REPO, UNITS, seed_root, verify
from tests.deploy.wheelbuild import build_wheel

INSTALL = REPO / "deploy" / "install.sh"
INSTALL_TIMEOUT_S = 120
EXAMPLE_CONFIG = '# example\n[broker]\nhost = "broker.example"\n'
ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow")
# What a minimal Debian root holds before camsentry; useradd and userdel edit these in place.
SEED_ACCOUNTS = {
    "passwd": "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    "group": "root:x:0:\nnogroup:x:65534:\n",
    "shadow": "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n",
    "gshadow": "root:*::\nnogroup:*::\n",
}
# Directories a real system has anyway; an uninstall may leave them (empty) behind.
SYSTEM_DIRS = {
    "etc/systemd",
    "etc/systemd/system",
    "etc/modules-load.d",
    "etc/sysctl.d",
    "opt",
    "var",
    "var/lib",
}

AS_ROOT = os.geteuid() == 0

Snapshot = dict[str, tuple[str, int, int, int, str]]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    build_wheel(REPO, out)
    return out


@pytest.fixture
def site_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for name, text in SEED_ACCOUNTS.items():
        (root / "etc" / name).write_text(text)
    if HOST_UNITS.is_dir():
        seed_root(root)  # the targets systemd-analyze verify resolves the unit against
    return root


def run_install(root: Path, wheels: Path, *args: str) -> subprocess.CompletedProcess[str]:
    example = root.parent / "example.toml"
    example.write_text(EXAMPLE_CONFIG)
    wheel = next(wheels.glob("camsentry-*.whl"))
    env = dict(os.environ, PYTHON=sys.executable, CAMSENTRY_PIP_ARGS="--no-deps")
    result = subprocess.run(
        [
            "bash",
            str(INSTALL),
            "--root",
            str(root),
            "--no-apt",
            "--source",
            str(wheel),
            "--wheels",
            str(wheels),
            "--config-example",
            str(example),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def snapshot(root: Path, *, skip: tuple[str, ...] = ()) -> Snapshot:
    """Every path under root with its type, mode, owner and content digest (not times)."""
    found: Snapshot = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if any(rel == s or rel.startswith(s + "/") for s in skip):
            continue
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            kind, digest = "link", os.readlink(path)
        elif stat.S_ISDIR(st.st_mode):
            kind, digest = "dir", ""
        else:
            kind, digest = "file", hashlib.sha256(path.read_bytes()).hexdigest()
        found[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, digest)
    return found


def account_id(root: Path, file: str) -> int:
    lines = [ln for ln in (root / "etc" / file).read_text().splitlines() if ln.startswith("camsentry:")]
    assert len(lines) == 1, lines
    return int(lines[0].split(":")[2])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.slow
def test_install_reinstall_uninstall(site_root: Path, wheels: Path) -> None:
    root = site_root
    before = snapshot(root)
    run_install(root, wheels, "--agent")

    venv = root / "opt/camsentry/venv"
    assert os.access(venv / "bin/camsentry-agent", os.X_OK)
    assert (root / "opt/camsentry/doc/install.md").read_text() == (REPO / "docs/install.md").read_text()
    landed = subprocess.run(
        [str(venv / "bin/python"), "-I", "-c", "import agent.runtime.sdnotify as m; print(m.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert landed.startswith(str(venv))
    conf = root / "etc/camsentry"
    assert (conf / "agent.toml").read_text() == EXAMPLE_CONFIG
    assert mode(conf) == 0o750
    assert mode(conf / "agent.toml") == 0o640
    assert mode(root / "var/lib/camsentry") == 0o700
    unit = root / "etc/systemd/system/camsentry-agent.service"
    assert unit.read_text() == (UNITS / "camsentry-agent.service").read_text()
    wants = root / "etc/systemd/system/multi-user.target.wants/camsentry-agent.service"
    assert os.readlink(wants) == "/etc/systemd/system/camsentry-agent.service"
    assert "nf_conntrack_netlink" in (root / "etc/modules-load.d/camsentry.conf").read_text()
    assert "nf_conntrack_acct = 1" in (root / "etc/sysctl.d/60-camsentry.conf").read_text()
    if AS_ROOT:
        uid, gid = account_id(root, "passwd"), account_id(root, "group")
        assert (root / "etc/passwd").read_text().count("/usr/sbin/nologin") == 2
        assert (root / "var/lib/camsentry").stat().st_uid == uid
        assert (conf / "agent.toml").stat().st_gid == gid
        assert (conf / "agent.toml").stat().st_uid == 0
    verified = verify(root, "camsentry-agent.service")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout + verified.stderr == ""

    # The operator edits the config and the agent makes its keys; a rerun must keep both.
    (conf / "agent.toml").write_text('[broker]\nhost = "broker.site-7.internal"\n')
    (root / "var/lib/camsentry/agent.key").write_text("secret")
    (conf / "agent.key.pem").write_text("tls secret")
    installed = snapshot(root, skip=("opt/camsentry/venv",))
    second = run_install(root, wheels, "--agent")
    assert "kept /etc/camsentry/agent.toml" in second.stdout
    assert "created system user" not in second.stdout
    assert snapshot(root, skip=("opt/camsentry/venv",)) == installed
    assert os.access(venv / "bin/camsentry-agent", os.X_OK)

    kept = run_install(root, wheels, "--agent", "--uninstall")
    assert "kept /etc/camsentry" in kept.stdout
    assert not unit.exists()
    assert not wants.is_symlink()
    assert not (root / "opt/camsentry").exists()
    assert not (root / "etc/modules-load.d/camsentry.conf").exists()
    assert not (root / "etc/sysctl.d/60-camsentry.conf").exists()
    assert (conf / "agent.toml").read_text().startswith("[broker]")
    assert (root / "var/lib/camsentry/agent.key").exists()

    run_install(root, wheels, "--agent", "--uninstall", "--purge")
    after = snapshot(root)
    for name in ACCOUNT_FILES:
        assert after[f"etc/{name}"] == before[f"etc/{name}"], name
    backups = {f"etc/{name}-" for name in ACCOUNT_FILES}  # useradd's own backups
    leftovers = set(after) - set(before) - backups
    assert leftovers <= SYSTEM_DIRS, leftovers
    assert all(after[p][0] == "dir" for p in leftovers)


@pytest.mark.slow
def test_two_roles_share_the_venv_until_the_last_goes(site_root: Path, wheels: Path) -> None:
    root = site_root
    run_install(root, wheels, "--agent")
    run_install(root, wheels, "--collector")
    units = root / "etc/systemd/system"
    assert (units / "camsentry-collector.service").exists()
    assert (root / "etc/camsentry/collector.toml").exists()
    assert mode(root / "var/lib/camsentry-collector") == 0o700
    assert os.access(root / "opt/camsentry/venv/bin/camsentry-collector", os.X_OK)

    run_install(root, wheels, "--agent", "--uninstall", "--purge")
    assert not (units / "camsentry-agent.service").exists()
    assert (units / "camsentry-collector.service").exists()
    assert (root / "opt/camsentry/venv").is_dir()
    assert (root / "etc/camsentry/collector.toml").exists()

    run_install(root, wheels, "--collector", "--uninstall", "--purge")
    assert not (root / "opt/camsentry").exists()
    assert not (root / "etc/camsentry").exists()
    assert not (root / "var/lib/camsentry-collector").exists()
    assert "camsentry:" not in (root / "etc/passwd").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--bogus"], "unknown option"), (["--root", "/nonexistent/camsentry"], "not a directory")],
)
def test_bad_arguments_are_refused(args: list[str], message: str) -> None:
    result = subprocess.run(
        ["bash", str(INSTALL), *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode != 0
    assert message in result.stderr
