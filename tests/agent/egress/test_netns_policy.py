"""A policy push in a real gateway namespace: a camera's real connection that the config's list
flags stops producing a finding once the push allows it; a bad push changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.agent.egress import peers
from tests.agent.egress.test_netns import BASE_CONFIG, _camera, _close, _pipes, _ready, topo
from tests.agent.egress.topology import CAM, CLOUD, Topology, start_watcher

pytestmark = [pytest.mark.netns, pytest.mark.root]
__all__ = ["topo"]  # the namespace fixture, shared with test_netns

VERSION = "sha256:" + "ab" * 32
PUSH: dict[str, Any] = {
    "policy_version": VERSION,
    "egress": {"allow": [*BASE_CONFIG["allow"], {"cidr": f"{CLOUD}/32", "ports": [6500], "protocol": "tcp"}]},
}


def test_push_stops_findings_for_a_real_connection_it_allows(topo: Topology) -> None:
    for port in ("6500", "7000"):
        _ready(topo.start(topo.python("inet", peers.LISTENER, CLOUD, port, "1"), **_pipes()))
    # Every change reported at the next drain, so the marker cannot overtake a phone-home finding.
    watcher = start_watcher(topo, {**BASE_CONFIG, "min_report_interval_s": 0})
    phone_home = (CAM, CLOUD, 6500, "tcp")
    try:
        assert _camera(topo, "cas.ys7.com", 6500, 0.05) == CLOUD
        assert watcher.read_until(lambda w: phone_home in w.latest(), 5.0), watcher.findings

        bad = {"policy_version": "sha256:bad", "egress": {"allow": [{"cidr": f"{CLOUD}/32", "colour": 1}]}}
        watcher.push_policy(bad)
        assert watcher.read_until(lambda w: len(w.policy) == 1, 5.0)
        assert watcher.policy[0]["result"]["outcome"] == "refused"
        assert watcher.policy[0]["status"]["allowlist_origin"] == "config"

        watcher.push_policy(PUSH)
        assert watcher.read_until(lambda w: len(w.policy) == 2, 5.0)
        assert watcher.policy[1]["result"]["outcome"] == "applied"
        assert watcher.policy[1]["status"]["allowlist_origin"] == VERSION
        reported = len(watcher.findings)

        # The same phone-home again, then a connection the push does not allow as a marker:
        # once the marker is reported, the phone-home would have been too.
        assert _camera(topo, "cas.ys7.com", 6500, 0.05) == CLOUD
        assert _camera(topo, "cas.ys7.com", 7000, 0.05) == CLOUD
        marker = (CAM, CLOUD, 7000, "tcp")
        assert watcher.read_until(lambda w: marker in w.latest(), 5.0), watcher.findings
        after = [(f["destination"], f["port"]) for f in watcher.findings[reported:]]
        assert (CLOUD, 6500) not in after, after
    finally:
        _close(watcher)
