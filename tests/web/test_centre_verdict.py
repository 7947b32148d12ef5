"""The web view shows the centre's verdict: the relabelled Hikvision the agent called unknown is
Hikvision on its device page and in the inventory, and a probable device is shown as probable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from collector.policy.model import load_policy
from collector.store.sqlite import SqliteStore
from collector.web.app import WebContext, create_app
from tests.support.centre_verdicts import PROBABLE_ADDRESS, PROBABLE_KEY, RELABELLED_KEY, add_judged_devices
from tests.support.clock import FakeClock
from tests.support.demo_estate import DEMO_POLICY, NOW, demo_estate
from tests.web.conftest import BASE, Web, add_users


@pytest.fixture
def viewer(tmp_path: Path) -> Iterator[FlaskClient]:
    estate = demo_estate(tmp_path)
    add_judged_devices(estate)
    add_users(estate.database)
    clock = FakeClock(NOW)
    store = SqliteStore(estate.database)
    policy = load_policy(DEMO_POLICY)
    try:
        app = create_app(WebContext(store=store, policy=lambda: policy, clock=clock))
        yield Web(app, estate, clock, store).login("victor")
    finally:
        store.close()


def test_device_page_shows_the_centre_verdict(viewer: FlaskClient) -> None:
    page = viewer.get(f"/devices/demo-hq/{RELABELLED_KEY}", base_url=BASE).get_data(as_text=True)
    assert "<h1>hikvision DS-2CD2143G2-I" in page
    assert '<td id="restricted">yes</td>' in page
    assert '<td id="verdict">centre data-' in page and "(the agent said unknown)" in page
    assert "model = DS-2CD2143G2-I → hikvision" in page  # the evidence behind it
    probable = viewer.get(f"/devices/demo-hq/{PROBABLE_KEY}", base_url=BASE).get_data(as_text=True)
    assert '<td id="restricted">probable</td>' in probable and "DS-2CD2043G0-I → hikvision" in probable


def test_inventory_page_filters_probable_devices(viewer: FlaskClient) -> None:
    page = viewer.get("/inventory?restricted=probable", base_url=BASE).get_data(as_text=True)
    assert 'data-figure="devices">1<' in page and PROBABLE_ADDRESS in page
    assert '<td class="restricted-probable">probable</td>' in page
    every = viewer.get("/inventory?restricted=any", base_url=BASE).get_data(as_text=True)
    assert 'data-figure="devices">8<' in every
    assert viewer.get("/inventory?restricted=maybe", base_url=BASE).status_code == 400
