"""End to end: ``newswatch run`` polls the fixture news site and alerts through the fake Bot API.

The service runs as a subprocess, exactly as deployed, with a config pointing at the local news
site (2 s poll interval) and the local Bot API server; the test acts as a Telegram user.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.delivery import ALERTS_SINCE
from newswatch.service import quiet_shutdown_cancellations
from newswatch.storage import connect
from newswatch.storage import stories as story_store
from tests.fixtures.botapi import FakeBotAPI
from tests.fixtures.newssite import NewsSite

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parent.parent
USER, ADMIN = 4242, 4243
HISTORY = "OpenAI 宣布 7 月 9 日起停止向中国大陆及香港地区提供 API 服务"
HISTORY_TEXT = ["OpenAI 宣布将于 7 月 9 日起封锁来自不支持的国家和地区的 API 流量，中国大陆与香港均在其列。"]
NEWS = "微软：10 月 21 日起停止向中国大陆个人开发者提供 Azure OpenAI 服务"
NEWS_TEXT = ["微软宣布将停止向中国大陆的个人开发者提供 Azure OpenAI 服务，企业客户不受影响。"]
NEWS_AGAIN = "微软将停止向中国大陆个人开发者提供 Azure OpenAI 服务"
OFF_TOPIC = "小米 15 发布：骁龙 8 至尊版，售价 4499 元起"


class Service:
    """``newswatch run`` in a subprocess; stdout collected line by line."""

    def __init__(self, config: Path, env: dict[str, str] | None = None):
        environment = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
        self.log = config.with_suffix(".log")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "newswatch", "--config", str(config), "run"],
            cwd=ROOT,
            env={**environment, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=self.log.open("wb"),
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def stdout(self) -> str:
        return "".join(self.lines)

    def wait_for_output(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.stdout():
                return True
            time.sleep(0.1)
        return False

    def terminate(self) -> tuple[int, float]:
        """SIGTERM; (exit status, seconds it took)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(15)
        return status, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def write_config(path: Path, site: NewsSite, api: FakeBotAPI | None, *feeds: str, listen: str = "") -> Path:
    """The service's config; its web side only where ``listen`` says (tests run side by side)."""
    lines = [
        "[storage]",
        f'url = "sqlite:///{path.parent / "newswatch.db"}"',
        "",
        "[web]",
        f'listen = "{listen}"',
        "",
        "[alerts]",
        'delivery_interval = "1s"',
        "",
        "[[sources]]",
        'name = "ithome"',
        'kind = "ithome"',
        f'url = "{site.base_url}/rss/"',
        "interval = 2",
        "",
    ]
    for feed in feeds:
        lines += [
            "[[sources]]",
            f'name = "{feed}"',
            'kind = "rss"',
            f'url = "{site.base_url}/feeds/{feed}.xml"',
        ]
        lines += ["interval = 2", 'lang = "zh"', ""]
    if api is not None:
        lines += [
            "[telegram]",
            f'token = "{api.token}"',
            f'api_base_url = "{api.base_url}"',
            f"admins = [{ADMIN}]",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wait_for_first_round(path: Path, service: Service, timeout: float = 30) -> None:
    """The service stores what it finds on its first round without alerting; then alerts start."""
    engine = connect(f"sqlite:///{path.parent / 'newswatch.db'}")
    try:
        deadline = time.monotonic() + timeout
        while story_store.get_meta(engine, ALERTS_SINCE) is None:
            assert service.proc.poll() is None, service.log.read_text()
            assert time.monotonic() < deadline, "no first round: " + service.log.read_text()
            time.sleep(0.2)
    finally:
        engine.dispose()


@pytest.fixture
def running() -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        service.kill()


def test_a_story_published_on_a_news_site_reaches_a_telegram_subscriber(
    tmp_path: Path, site: NewsSite, botapi: FakeBotAPI, running: list[Service]
) -> None:
    botapi.add_private_chat(USER)
    site.add_ithome_article(HISTORY, HISTORY_TEXT)  # already on the site: history, never alerted
    site.add_feed("cnbeta")
    config = write_config(tmp_path / "config.toml", site, botapi, "cnbeta")
    service = Service(config)
    running.append(service)

    botapi.send_text(USER, "/start")
    assert botapi.wait_for_message(USER, "Subscribed.", timeout=20), service.log.read_text()
    assert {c["command"] for c in botapi.commands} >= {"start", "stop", "latest", "watch"}
    wait_for_first_round(config, service)

    published = time.monotonic()
    site.add_ithome_article(NEWS, NEWS_TEXT)
    site.add_ithome_article(OFF_TOPIC, ["小米今天发布了小米 15 手机。"])
    alert = botapi.wait_for_message(USER, NEWS, timeout=30)
    assert alert is not None, service.log.read_text()
    assert time.monotonic() - published < 15
    assert alert["text"].startswith(f"🚫 {NEWS}\nmicrosoft")
    assert {e["type"] for e in alert["entities"]} >= {"bold", "text_link"}

    # another outlet reports the same story: the alert is edited, not sent again
    site.add_feed_item("cnbeta", NEWS_AGAIN, [NEWS_AGAIN + "。" + NEWS_TEXT[0]])
    assert botapi.wait_for(
        lambda api: any("Also reported by cnbeta" in m["text"] for m in api.messages(USER)), timeout=30
    ), service.log.read_text()

    status, seconds = service.terminate()
    assert status == 0 and seconds < 10
    alerts = [m["text"] for m in botapi.messages(USER) if m["text"].startswith(("🚫", "✅", "🔎"))]
    assert len(alerts) == 1  # not the history, not the off-topic story, and one per story
    assert botapi.too_many_requests == 0
    assert "Traceback" not in service.log.read_text()


def test_without_a_token_alerts_are_printed_on_the_console(
    tmp_path: Path, site: NewsSite, running: list[Service]
) -> None:
    site.add_ithome_article(HISTORY, HISTORY_TEXT)
    config = write_config(tmp_path / "config.toml", site, None)
    service = Service(config)
    running.append(service)
    wait_for_first_round(config, service)

    site.add_ithome_article(NEWS, NEWS_TEXT, published=datetime.now(UTC))

    assert service.wait_for_output(NEWS, timeout=30), service.log.read_text()
    status, seconds = service.terminate()
    assert status == 0 and seconds < 10
    out = service.stdout()
    assert out.count("=== ALERT ===") == 1 and HISTORY not in out
    assert "<b>" not in out and "Read the article (https://www.ithome.com/0/" in out  # canonical URL


def test_a_token_revoked_while_running_stops_the_service_with_a_non_zero_status(
    tmp_path: Path, site: NewsSite, botapi: FakeBotAPI, running: list[Service]
) -> None:
    botapi.add_private_chat(USER)
    service = Service(write_config(tmp_path / "config.toml", site, botapi))
    running.append(service)
    botapi.send_text(USER, "/help")
    assert botapi.wait_for_message(USER, "/start", timeout=20), service.log.read_text()

    botapi.token = "123456:REPLACED-AT-BOTFATHER"  # the old token now gets 401 Unauthorized
    botapi.send_text(USER, "/help")  # ends the long poll in progress

    assert service.proc.wait(20) == 2, service.log.read_text()
    assert "Telegram no longer accepts the bot token" in service.log.read_text()


def test_a_job_cancelled_by_shutdown_leaves_no_traceback_in_the_log(caplog):
    """APScheduler's asyncio executor cancels running coroutine jobs on ``shutdown(wait=False)``:
    that is how the service stops, not an error worth a traceback in the operator's log."""

    async def slow_job() -> None:
        await asyncio.sleep(30)

    async def start_then_stop() -> None:
        jobs = AsyncIOScheduler(timezone=UTC)
        jobs.add_job(slow_job, next_run_time=datetime.now(UTC))
        jobs.start()
        await asyncio.sleep(0.3)  # the job is running
        jobs.shutdown(wait=False)
        await asyncio.sleep(0.1)

    def errors() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelname == "ERROR" and r.exc_info]

    asyncio.run(start_then_stop())
    assert errors(), "APScheduler no longer logs cancelled jobs: the filter can go"
    caplog.clear()
    quiet_shutdown_cancellations()
    asyncio.run(start_then_stop())
    assert errors() == []
