"""The tracker page in a real browser: Debian's headless Chromium, driven by Playwright, reading the
page of a running ``newswatch run`` fed by the fixture news site.

A restriction story appears as a cell of the matrix and a bar of the timeline; its lifting turns the
cell; the page logs no console error (a Content-Security-Policy violation would be one). The last
screenshot is kept in ``tests/output/``. Playwright's own browser builds are never downloaded: the
test uses ``/usr/bin/chromium`` (``make install-test`` installs it) and skips when it is absent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fixtures.newssite import NewsSite
from tests.test_service import HISTORY, HISTORY_TEXT, Service, wait_for_first_round, write_config

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [  # without the background-networking flags Chromium reaches out at start
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
OUTPUT = Path(__file__).resolve().parent / "output"
RESTRICTION = ("Perplexity 停止向俄罗斯用户提供服务", ["Perplexity 宣布停止向俄罗斯用户提供 AI 搜索服务。"])
LIFT = (
    "Perplexity 恢复向俄罗斯用户提供服务",
    ["Perplexity 宣布恢复向俄罗斯用户提供 AI 搜索服务，此前该服务已暂停数月。"],
)
CELL = 'td.cell[data-provider="perplexity"][data-region="RU"]'
ROW = 'svg.timeline g.row[data-label^="Perplexity · RU"]'

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"no {CHROMIUM}: install Debian's chromium (make install-test does where apt-get is usable)",
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a test extra: make install-test")


@pytest.fixture
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def wait_for(page, check: Callable[[], bool], what: str, service: Service, timeout: float = 60) -> None:
    """Reload the page until ``check()`` holds, as a person pressing F5 would."""
    deadline = time.monotonic() + timeout
    while True:
        page.reload()
        if check():
            return
        assert time.monotonic() < deadline, f"{what} within {timeout} s:\n{service.log.read_text()}"
        time.sleep(0.5)


def test_the_page_shows_a_restriction_and_its_lifting(
    tmp_path: Path, site: NewsSite, web_listen: str, browser, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add_ithome_article(HISTORY, HISTORY_TEXT)
    config = write_config(tmp_path / "config.toml", site, None, listen=web_listen)
    service = Service(config)
    try:
        wait_for_first_round(config, service, timeout=90)  # a busy machine takes its time
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.goto(f"http://{web_listen}/")
        assert page.title().startswith("newswatch")
        assert page.locator(CELL).count() == 0

        site.add_ithome_article(*RESTRICTION, published=datetime.now(UTC))
        cell = page.locator(CELL)
        wait_for(page, lambda: cell.count() == 1, "the restriction's cell", service)
        assert cell.get_attribute("data-status") == "restricted"
        row = page.locator(ROW)
        assert row.get_attribute("data-status") == "restricted"
        assert row.locator("rect.bar.restricted").count() == 1
        assert row.locator("circle.mark.restricted").count() == 1
        alerts = page.locator("#alerts")
        wait_for(page, lambda: RESTRICTION[0] in alerts.inner_text(), "the alert listed", service)

        site.add_ithome_article(*LIFT, published=datetime.now(UTC))
        wait_for(page, lambda: cell.get_attribute("data-status") == "lifted", "the cell lifted", service)
        row = page.locator(ROW)
        assert row.get_attribute("data-status") == "lifted"
        assert row.locator("rect.bar.restricted").count() == 1  # the bar now ends at the lifting
        assert row.locator("circle.mark.lifted").count() == 1

        page.locator(CELL + " a").click()  # the cell's history
        page.wait_for_load_state()
        assert "provider=perplexity" in page.url and "region=RU" in page.url
        history = page.locator("table.history").inner_text()
        assert RESTRICTION[0] in history and LIFT[0] in history

        page.goto(f"http://{web_listen}/")
        OUTPUT.mkdir(exist_ok=True)
        screenshot = OUTPUT / "tracker.png"
        page.screenshot(path=str(screenshot), full_page=True)
        with capsys.disabled():
            print(f"\nscreenshot: {screenshot}")
        assert problems == []
        assert service.terminate()[0] == 0
    finally:
        service.kill()
