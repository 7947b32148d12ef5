"""The collector's /metrics over real HTTP from a running service (real Mosquitto): series move
when envelopes are stored, duplicated and rejected, when a pass opens violations and alerts
are delivered; behind TLS, a bearer token or basic auth refuses scrapers without them."""

from __future__ import annotations

import base64
import ssl
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.runtime.metricsconfig import MetricsSettings
from agent.runtime.metricsserver import MetricsServer
from agent.wire.envelope import Kind
from agent.wire.inventory import inventory_body
from agent.wire.topics import topic
from collector.metrics import registry_for
from collector.service import CollectorService
from tests.metrics.scrape import dashboard_metrics, exposed, samples, scrape, value
from tests.support.fakeagent import FakeAgent, camera
from tests.support.mosquitto import Broker
from tests.support.pipeline import running_collector, wait_until
from tests.support.rawmqtt import publish_and_wait, raw_client

P = "camsentry_collector_"


@contextmanager
def serving(service: CollectorService, settings: MetricsSettings) -> Iterator[MetricsServer]:
    registry, metrics = registry_for(service)
    server = MetricsServer(settings, registry)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        metrics.close()


def test_series_follow_what_the_service_does(broker: Broker, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[sites.hq]\nclass = "sensitive"\n')
    with (
        running_collector(broker, tmp_path / "c", policy_path=policy, evaluate_interval_s=3600.0) as col,
        serving(col.service, MetricsSettings("127.0.0.1", 0)) as server,
        raw_client(broker, "fake-agent") as (client, _),
    ):
        url = f"http://127.0.0.1:{server.port}/metrics"
        before = scrape(url)
        assert value(before, P + "envelopes_accepted_total") == 0
        assert value(before, P + "agents", liveness="online") == 0

        agent = FakeAgent(col.store)
        sent = agent.inventory(client, 1, 3)
        publish_and_wait(client, topic("hq", "pi-01", "inventory"), sent[0])  # a redelivery
        forged = agent.envelope(Kind.INVENTORY, inventory_body(camera(9), sweep="x", snapshot=False),
                                key=Ed25519PrivateKey.generate())  # fmt: skip
        publish_and_wait(client, topic("hq", "pi-01", "inventory"), forged)
        rejected = P + "envelopes_rejected_total"
        wait_until(
            lambda: value(scrape(url), rejected, reason="bad_signature") == 1, 15, "the forgery counted"
        )
        text = scrape(url)
        assert value(text, P + "envelopes_accepted_total") == 3
        assert value(text, P + "duplicates_total") == 1
        assert value(text, P + "batch_store_seconds_count") >= 1
        assert value(text, P + "batch_store_seconds_sum") > 0
        wait_until(lambda: value(scrape(url), P + "receipts_sent_total") >= 1, 15, "a receipt")
        assert value(text, P + "agents", liveness="online") == 1

        col.service.request_reload()  # evaluates at once
        wait_until(lambda: value(scrape(url), P + "policy_pass_seconds_count") >= 2, 15, "a second pass")
        text = scrape(url)
        opened = {labels: n for (name, labels), n in samples(text).items() if name == P + "open_violations"}
        assert sum(opened.values()) == 3  # one per camera, labelled by severity and rule
        assert all(dict(labels).keys() == {"severity", "rule"} for labels in opened)
        wait_until(
            lambda: value(scrape(url), P + "alerts_sent_total", sink="mqtt") == 3, 15, "alerts delivered"
        )
        text = scrape(url)
        assert value(text, P + "alert_queue_depth", sink="mqtt") == 0
        assert value(text, P + "alert_failures_total", sink="mqtt") == 0
        assert value(text, P + "stage_stalled", stage="ingest") == 0
        assert value(text, P + "broker_connected") == 1
        names = exposed(text)
        assert dashboard_metrics(P) <= names, dashboard_metrics(P) - names


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path, Path]:
    ca = trustme.CA()
    d = tmp_path_factory.mktemp("tls")
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(d / "m.key"))
    cert.cert_chain_pems[0].write_to_path(str(d / "m.crt"))
    return ca, d / "m.crt", d / "m.key"


@pytest.mark.parametrize("auth", ["token", "basic"])
def test_tls_and_credentials(
    broker: Broker, tmp_path: Path, tls: tuple[trustme.CA, Path, Path], auth: str
) -> None:
    ca, cert, key = tls
    if auth == "token":
        settings = MetricsSettings("127.0.0.1", 0, cert, key, token="t0ken")
        good = {"Authorization": "Bearer t0ken"}
        bad = {"Authorization": "Bearer wrong"}
    else:
        settings = MetricsSettings("127.0.0.1", 0, cert, key, username="prom", password="pw")
        good = {"Authorization": "Basic " + base64.b64encode(b"prom:pw").decode()}
        bad = {"Authorization": "Basic " + base64.b64encode(b"prom:nope").decode()}
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with running_collector(broker, tmp_path / "c") as col, serving(col.service, settings) as server:
        url = f"https://127.0.0.1:{server.port}/metrics"
        assert P + "envelopes_accepted_total 0.0" in scrape(url, headers=good, context=context)
        for headers in ({}, bad):
            with pytest.raises(urllib.error.HTTPError) as refused:
                scrape(url, headers=headers, context=context)
            assert refused.value.code == 401
            refused.value.close()
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            scrape(url, headers=good, context=ssl.create_default_context())
