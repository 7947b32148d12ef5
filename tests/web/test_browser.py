"""The web view in a real browser: Debian's headless Chromium driven through its chromedriver.

One web server process (``camsentry-collector web``) over the demo estate and one browser for
the module. Checks: anonymous visits see only the login form; log in; every page shows the
figures the CLI reports for the same database; a viewer is refused an operator action; a form
whose CSRF token was removed is refused; an operator's action lands in the audit trail under
their name; screenshots are non-blank and of the window's size.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collector.cli import main as collector_main
from collector.reports.catalog import REPORTS
from tests.support.demo_estate import DemoEstate, demo_estate
from tests.support.png import read_png
from tests.web.conftest import PASSWORDS, add_users

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1280, 900)
# Generous: the machine may be busy; a wait ends as soon as the page is there.
WAIT_S = 30

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs Debian's chromium and chromium-driver (deploy/system-packages.sh installs them)",
    ),
]
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


@dataclass
class Site:
    base: str
    estate: DemoEstate
    browser: WebDriver
    shots: Path

    def cli_json(self, *argv: str) -> Any:
        out = io.StringIO()
        with redirect_stdout(out):
            assert collector_main(["--config", str(self.estate.config), *argv]) == 0
        return json.loads(out.getvalue())

    def open(self, path: str) -> None:
        self.browser.get(self.base + path)

    def figures(self) -> dict[str, int]:
        found = self.browser.find_elements(By.CSS_SELECTOR, "[data-figure]")
        return {e.get_attribute("data-figure") or "": int(e.text) for e in found}

    def login(self, username: str) -> None:
        self.browser.delete_all_cookies()
        self.open("/login")
        self.browser.find_element(By.NAME, "username").send_keys(username)
        self.browser.find_element(By.NAME, "password").send_keys(PASSWORDS[username])
        self.follow(self.browser.find_element(By.ID, "login"))
        assert self.browser.current_url == self.base + "/", self.browser.page_source[:300]
        assert (
            self.browser.find_element(By.CSS_SELECTOR, "[data-user]").get_attribute("data-user") == username
        )

    def submit(self, button_id: str) -> None:
        """Click a form's button and wait for the next page (the old one goes stale)."""
        self.follow(self.browser.find_element(By.ID, button_id))

    def follow(self, element: Any) -> None:
        """Click and wait until the next page has loaded completely: a new document has a fresh
        ``window``, so the mark set here is gone (chromedriver's staleness check can itself fail
        mid-navigation, which is why it is not used)."""
        self.browser.execute_script("window.csOldPage = true")
        element.click()
        WebDriverWait(self.browser, WAIT_S, ignored_exceptions=(WebDriverException,)).until(
            lambda b: b.execute_script("return !window.csOldPage && document.readyState === 'complete'")
        )

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        assert self.browser.save_screenshot(str(path))
        return path


def _start_server(config: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "collector.cli",
                "--config",
                str(config),
                "web",
                "--listen",
                "127.0.0.1:0",
            ],
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()  # the server prints its URL once it listens
    if not line.startswith("http://"):
        proc.kill()
        proc.wait()
        proc.stdout.close()
        raise AssertionError(f"web view did not start: {log.read_text()[-2000:]}")
    return proc, line.rstrip("/")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("browser")
    estate = demo_estate(work)
    add_users(estate.database)
    proc, base = _start_server(estate.config, work / "web.log")
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--user-data-dir={profile}",
    ):  # fmt: skip
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield Site(base, estate, browser, work / "screenshots")
    finally:
        browser.quit()
        proc.terminate()
        try:
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
            shutil.rmtree(profile, ignore_errors=True)


def test_anonymous_browser_sees_only_the_login_form(site: Site) -> None:
    site.browser.delete_all_cookies()
    for path in ("/", "/inventory", "/violations", "/reports/holdings", "/agents", "/static/style.css"):
        site.open(path)
        assert site.browser.current_url.startswith(site.base + "/login"), path
        source = site.browser.page_source
        assert "127.20.0" not in source and "hikvision" not in source.lower(), path
    assert site.browser.find_elements(By.NAME, "username") and site.browser.find_elements(By.NAME, "password")


def test_pages_show_the_figures_the_cli_reports(site: Site) -> None:
    site.shots.mkdir(exist_ok=True)
    site.login("victor")
    compliance = site.cli_json("report", "compliance", "--format", "json")["totals"]
    dashboard = site.figures()
    assert dashboard["devices"] == compliance["devices"] == 8
    assert dashboard["restricted"] == compliance["restricted"]
    assert dashboard["past_deadline"] == compliance["past_deadline"]
    assert dashboard["open_violations"] == sum(compliance["open_by_severity"].values())
    assert site.browser.find_elements(By.CSS_SELECTOR, "#burndown svg")
    site.shot("dashboard")

    site.open("/inventory")
    assert site.figures() == site.cli_json("report", "inventory", "--format", "json")["figures"]
    assert len(site.browser.find_elements(By.CSS_SELECTOR, "#devices tbody tr")) == 8
    site.open("/inventory?maker=dahua&restricted=yes")
    cli = site.cli_json("report", "inventory", "--format", "json", "--maker", "dahua", "--restricted")
    assert site.figures() == cli["figures"] and cli["figures"]["devices"] == 3
    site.shot("inventory")

    for name in (n for n in REPORTS if n != "compliance"):  # compliance keeps its own JSON shape
        site.open(f"/reports/{name}")
        assert site.figures() == site.cli_json("report", name, "--format", "json")["figures"], name
    site.open("/reports/compliance")
    assert site.figures()["restricted"] == compliance["restricted"]

    site.open("/violations")
    shown = int(site.browser.find_element(By.CSS_SELECTOR, "[data-figure=violations]").text)
    assert shown == len(site.cli_json("violations", "--format", "json")) > 10
    site.open("/agents")
    liveness = [e.text for e in site.browser.find_elements(By.CSS_SELECTOR, "#agents td.liveness")]
    assert len(liveness) == len(site.cli_json("status", "--json"))

    site.open("/inventory")
    site.follow(site.browser.find_element(By.LINK_TEXT, "127.20.0.5:8080"))
    verdicts = [e.text for e in site.browser.find_elements(By.CSS_SELECTOR, "[data-verdict]")]
    assert verdicts == ["verified"]
    site.shot("device")


def _open_violation(site: Site) -> str:
    site.open("/violations?state=open")
    row = site.browser.find_element(By.CSS_SELECTOR, "#violations tbody tr")
    vid = row.get_attribute("data-violation") or ""
    site.open(f"/violations/{vid}")
    return vid


def test_viewer_is_refused_an_operator_action(site: Site) -> None:
    site.login("victor")
    vid = _open_violation(site)
    site.browser.find_element(By.ID, "ack-reason").send_keys("not mine to do")
    site.submit("acknowledge")
    assert "operator role" in site.browser.page_source
    site.open(f"/violations/{vid}")
    assert site.browser.find_element(By.ID, "state").text == "open"


def test_form_without_its_csrf_token_is_refused(site: Site) -> None:
    site.login("olive")
    vid = _open_violation(site)
    site.browser.execute_script("document.querySelector('#ack-form input[name=csrf_token]').remove()")
    site.browser.find_element(By.ID, "ack-reason").send_keys("forged")
    site.submit("acknowledge")
    assert "CSRF" in site.browser.page_source
    site.open(f"/violations/{vid}")
    assert site.browser.find_element(By.ID, "state").text == "open"


def test_operator_acknowledges_and_the_audit_names_them(site: Site) -> None:
    site.login("olive")
    vid = _open_violation(site)
    site.browser.find_element(By.ID, "ack-reason").send_keys("removal booked for Friday")
    site.submit("acknowledge")
    assert site.browser.find_element(By.ID, "state").text == "acknowledged"
    whos = [e.text for e in site.browser.find_elements(By.CSS_SELECTOR, "#trail td.who")]
    assert whos[-1] == "olive"
    trail = site.cli_json("audit", vid, "--format", "json")
    assert trail[-1]["who"] == "olive" and trail[-1]["reason"] == "removal booked for Friday"
    site.shot("violation")


def test_screenshots_are_pages_not_blanks(site: Site) -> None:
    shots = sorted(site.shots.glob("*.png"))
    assert {p.stem for p in shots} >= {"dashboard", "inventory", "device", "violation"}
    for path in shots:
        picture = read_png(path.read_bytes())
        assert picture.width == WINDOW[0] and WINDOW[1] * 0.7 <= picture.height <= WINDOW[1], path.name
        assert picture.colours > 20 and picture.dominant_share < 0.97, path.name
