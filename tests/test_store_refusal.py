"""A store that stops taking writes mid-delivery: each alert still arrives once, and never again.

The store really refuses: it lives on a small tmpfs that the test fills up (SQLite: "database or
disk is full"), or its files are made immutable with ``chattr +i`` (SQLite: "disk I/O error").
Both need root; where the machine does not allow them the tests are skipped with the reason.
Telegram is the fake Bot API, reached through real python-telegram-bot.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.delivery import ALERTS_SINCE, Delivery
from bot.handlers import STORE_UNAVAILABLE
from bot.pacing import Pacer
from bot.senders import TelegramSender
from newswatch.config import AlertsConfig, Config, SourceConfig, TelegramConfig
from newswatch.roles.delivery import DeliveryRole
from newswatch.storage import connect, outbox, schema, subscribers
from newswatch.storage import sources as source_store
from newswatch.storage import stories as story_store
from tests.conftest import Clock
from tests.fixtures.botapi import FakeBotAPI
from tests.test_delivery import AZURE, AZURE_TEXT, per_chat, private_chats, service_config, start_service
from tests.test_handlers import RunningBot, ask

pytestmark = pytest.mark.filterwarnings("ignore:.*`retry_after` will be of type:DeprecationWarning")

CONCURRENCY = 16  # Delivery's sends in flight at once: the most a refusal can leave unrecorded


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


class Refusal:
    """Makes the store refuse writes (``start``) and take them again (``stop``)."""

    def __init__(self, kind: str, root: Path):
        self.kind = kind
        self.root = root
        self.db = root / "newswatch.db"
        self.url = f"sqlite:///{self.db}"

    def start(self) -> None:
        if self.kind == "disk full":
            # every free block taken: the next write-ahead log frame has nowhere to go
            fd = os.open(self.root / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                for chunk in (1 << 20, 4096, 1):
                    try:
                        while True:
                            os.write(fd, b"\xff" * chunk)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
            finally:
                os.close(fd)
        else:
            for name in (self.db, self.db.with_name(self.db.name + "-wal")):
                done = _run("chattr", "+i", str(name))
                assert done.returncode == 0, done.stderr

    def stop(self) -> None:
        if self.kind == "disk full":
            (self.root / "filler").unlink(missing_ok=True)
        else:
            for name in (self.db, self.db.with_name(self.db.name + "-wal")):
                _run("chattr", "-i", str(name))


@pytest.fixture(params=["disk full", "immutable file"])
def refusal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Refusal]:
    if os.geteuid() != 0:
        pytest.skip("a store that refuses writes needs root (to mount a small disk, or chattr +i)")
    root = tmp_path / "disk"
    root.mkdir()
    if request.param == "disk full":
        done = _run("mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(root))
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    else:
        probe = root / "probe"
        probe.touch()
        if shutil.which("chattr") is None or _run("chattr", "+i", str(probe)).returncode != 0:
            pytest.skip(f"cannot make a file immutable on {root}")
        _run("chattr", "-i", str(probe))
        probe.unlink()
    made = Refusal(request.param, root)
    yield made
    made.stop()
    if request.param == "disk full" and _run("umount", str(root)).returncode != 0:
        _run("umount", "-l", str(root))


@pytest.fixture
def store(refusal: Refusal) -> Iterator[Engine]:
    """The conftest's store (an alerting service, one hour in), on the disk that will refuse."""
    engine = connect(refusal.url)
    story_store.set_meta(engine, ALERTS_SINCE, (datetime.now(UTC) - timedelta(hours=1)).isoformat())
    yield engine
    engine.dispose()


def test_a_store_that_stops_taking_writes_mid_send_pauses_delivery_and_repeats_nothing(
    botapi: FakeBotAPI, store: Engine, refusal: Refusal, publish, subscribe, caplog
) -> None:
    chats = range(1, 41)
    private_chats(botapi, subscribe, chats)
    publish(AZURE, AZURE_TEXT)

    async def scenario() -> tuple[dict[int, int], int]:
        request = HTTPXRequest(connection_pool_size=32)
        async with Bot(botapi.token, base_url=botapi.base_url, request=request) as bot:
            delivery = Delivery(store, TelegramSender(bot), AlertsConfig(), Pacer())
            await asyncio.to_thread(delivery.fanout)  # queued; then the store stops taking writes
            refusal.start()
            for _ in range(6):  # three seconds of delivery ticks
                await delivery.run_once()
                await asyncio.sleep(0.5)
            during, remembered = dict(per_chat(botapi)), len(delivery.unrecorded)
            refusal.stop()
            deadline = time.monotonic() + 30
            while outbox.counts(store).get("pending") and time.monotonic() < deadline:
                await delivery.run_once()
                await asyncio.sleep(0.1)
        return during, remembered

    with caplog.at_level(logging.INFO, logger="bot.delivery"):
        during, remembered = asyncio.run(scenario())

    assert during and max(during.values()) == 1  # repeated 24-29 times in 30 s before
    assert remembered == sum(during.values()) <= CONCURRENCY  # only what was in flight
    assert per_chat(botapi) == dict.fromkeys(chats, 1)  # then the rest, and nothing twice
    assert outbox.counts(store) == {"sent": len(chats)}
    messages = [r.getMessage() for r in caplog.records]
    assert sum("the store refuses writes" in m for m in messages) == 1  # once a minute, not per alert
    assert sum("the store takes writes again" in m for m in messages) == 1


def test_a_store_that_stops_taking_writes_mid_digest_sends_each_digest_message_once(
    botapi: FakeBotAPI, store: Engine, refusal: Refusal, subscribe, add_story, clock: Clock
) -> None:
    chats = range(1, 21)
    for chat in chats:
        botapi.add_private_chat(chat)
        subscribe(chat)
        subscribers.set_schedule(store, chat, quiet="23:00-08:00")
    for n in range(20):  # two messages a digest
        add_story(f"{n:02d} " + "OpenAI 停止服务，很长的标题😀" * 20)

    async def scenario() -> tuple[dict[int, int], int]:
        request = HTTPXRequest(connection_pool_size=32)
        async with Bot(botapi.token, base_url=botapi.base_url, request=request) as bot:
            delivery = Delivery(store, TelegramSender(bot), AlertsConfig(), Pacer(), clock=clock)
            clock.set(datetime(2025, 12, 1, 23, 30, tzinfo=UTC))
            await asyncio.to_thread(delivery.fanout)  # held
            clock.set(datetime(2025, 12, 2, 8, 0, tzinfo=UTC))
            await asyncio.to_thread(delivery.compose_digests)  # composed; then the store stops taking writes
            refusal.start()
            for _ in range(6):
                await delivery.run_once()
                await asyncio.sleep(0.5)
            during, remembered = dict(per_chat(botapi)), len(delivery.unrecorded)
            refusal.stop()
            deadline = time.monotonic() + 30
            while outbox.counts(store).get("pending") and time.monotonic() < deadline:
                await delivery.run_once()
                await asyncio.sleep(0.1)
        return during, remembered

    during, remembered = asyncio.run(scenario())

    assert during and max(during.values()) == 1  # the first messages in flight, nothing after them
    assert remembered == sum(during.values()) <= CONCURRENCY
    times = collections.Counter((m["chat_id"], m["text"].split("\n")[0]) for m in botapi.sent)
    assert set(times.values()) == {1}  # no message twice
    assert set(times) == {(c, f"🌙 20 alerts while you were away ({n}/2)") for c in chats for n in (1, 2)}
    assert outbox.counts(store) == {"sent": 20 * len(chats)}


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("refusal", ["disk full"], indirect=True)
def test_a_crash_while_the_store_refuses_writes_repeats_at_most_one_alert_per_chat(
    tmp_path: Path, botapi: FakeBotAPI, store: Engine, refusal: Refusal, publish, subscribe
) -> None:
    chats = range(1, 121)
    private_chats(botapi, subscribe, chats)
    publish(AZURE, AZURE_TEXT)
    store.dispose()  # the service has the store to itself
    config, log = service_config(tmp_path, store, botapi), tmp_path / "service.log"

    # 1. the disk fills mid-send: delivery pauses, says so, sends nothing more; then kill -9
    first = start_service(config, log)
    try:
        assert botapi.wait_for(lambda api: len(api.sent) >= 20, timeout=30), log.read_text()
        refusal.start()
        assert botapi.wait_for(lambda _: "the store refuses writes" in log.read_text(), timeout=15)
        time.sleep(1)
        paused = per_chat(botapi)
        time.sleep(4)  # five delivery ticks, a lease renewal
        assert per_chat(botapi) == paused
        assert max(paused.values()) == 1
        first.send_signal(signal.SIGKILL)
        first.wait(5)
    finally:
        first.kill()
    refusal.stop()
    engine = connect(refusal.url)
    with engine.connect() as conn:
        pending = set(
            conn.execute(
                select(schema.subscribers.c.chat_id)
                .join(schema.outbox, schema.outbox.c.subscriber_id == schema.subscribers.c.id)
                .where(schema.outbox.c.status == outbox.PENDING)
            ).scalars()
        )
    unrecorded = pending & set(paused)  # reached Telegram, died in memory with the process
    assert len(unrecorded) <= CONCURRENCY

    # 2. restart: the rest, the unrecorded ones once more, nothing else
    second = start_service(config, log)
    try:
        assert botapi.wait_for(lambda api: len(per_chat(api)) == len(chats), timeout=30), log.read_text()
        time.sleep(1.0)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(10) == 0

    counts = per_chat(botapi)
    assert set(counts) == set(chats) and max(counts.values()) <= 2
    assert {c for c, n in counts.items() if n == 2} == unrecorded
    assert outbox.counts(engine) == {"sent": len(chats)}
    assert log.read_text().count("the store refuses writes") == 1
    assert "Traceback" not in log.read_text()
    engine.dispose()


def test_a_command_the_store_refuses_gets_an_apology_not_silence(
    botapi: FakeBotAPI, store: Engine, refusal: Refusal, tmp_path: Path
) -> None:
    config = Config(
        path=tmp_path / "config.toml",
        storage_url=refusal.url,
        sources=(),
        telegram=TelegramConfig(token=botapi.token, api_base_url=botapi.base_url),
    )
    botapi.add_private_chat(21)
    with RunningBot(config):
        refusal.start()
        ask(botapi, 21, "/start", STORE_UNAVAILABLE)
        refusal.stop()
        ask(botapi, 21, "/start", "Subscribed.")


@pytest.mark.parametrize("refusal", ["immutable file"], indirect=True)
def test_the_first_round_ending_while_the_store_refuses_starts_alerts_once_it_takes_writes(
    store: Engine, refusal: Refusal, tmp_path: Path
) -> None:
    with store.begin() as conn:  # a first start: alerts begin once every source has been polled
        conn.execute(schema.meta.delete().where(schema.meta.c.key == ALERTS_SINCE))
    source = SourceConfig("ithome", "ithome", "https://www.ithome.com/rss/")
    source_store.record_success(store, "ithome", None, None)  # its first poll, made by a crawl worker
    config = Config(path=tmp_path / "config.toml", storage_url=refusal.url, sources=(source,))
    engine = connect(refusal.url)

    async def crawled() -> None:  # the crawl workers' callback after the first poll
        delivery = DeliveryRole(config, engine, asyncio.Event())
        delivery.first_round = {"ithome"}
        refusal.start()
        await delivery.crawled(["ithome"])  # used to raise, and alerts never started
        assert story_store.get_meta(store, ALERTS_SINCE) is None
        refusal.stop()
        await delivery.crawled(["ithome"])  # the next poll of the source

    asyncio.run(crawled())
    engine.dispose()
    assert story_store.get_meta(store, ALERTS_SINCE) is not None
