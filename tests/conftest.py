"""Shared fixtures. One section per side of the project; add yours under its own heading.

Crawl side: ``site`` (a running local NewsSite), ``write_config`` (a config file in a tmp dir),
``store_url`` (SQLite, and PostgreSQL too when NEWSWATCH_TEST_DATABASE_URL is set), ``newswatch``
(the CLI in a subprocess: a Twisted reactor cannot be restarted, so each crawl gets its own process).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.fixtures.newssite import NewsSite

ROOT = Path(__file__).resolve().parent.parent
TEST_DATABASE_ENV = "NEWSWATCH_TEST_DATABASE_URL"

# --- crawl side: the fixture site, config files, the store, the CLI ------------------------------------


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite() as running:
        yield running


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """``write_config(toml_text, name="config.toml")`` -> path; the text is dedented."""

    def write(body: str, name: str = "config.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
        return path

    return write


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store: an SQLite file, or a throw-away schema on NEWSWATCH_TEST_DATABASE_URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base = os.environ.get(TEST_DATABASE_ENV)
    if not base:
        pytest.skip(
            f"PostgreSQL: set {TEST_DATABASE_ENV}, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
    schema = f"nw_test_{uuid.uuid4().hex[:12]}"  # one per test: parallel runs and reruns never collide
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def newswatch() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``newswatch(*args, env={...}, cwd=...)``: run ``python -m newswatch ARGS`` and capture its output.

    The child sees no NEWSWATCH_* variable from the caller's environment unless given in ``env``."""

    def run(
        *args: str | os.PathLike[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
        environment |= {"PYTHONPATH": str(ROOT), **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "newswatch", *map(str, args)],
            cwd=cwd or ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


# --- bot side (issue 4): the fake Bot API, a store that is alerting, stories and subscribers ----------
#
# ``botapi`` (a running FakeBotAPI with Telegram's default limits), ``store`` (a fresh SQLite store
# whose service has been alerting for an hour), ``publish`` (an article through the real detector and
# story assignment into the store, as a crawl stores it), ``subscribe`` (a subscriber with choices),
# ``arrivals`` (when each request reached the fake server).

import asyncio  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

from sqlalchemy import Engine  # noqa: E402
from telegram import Bot  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from bot.delivery import ALERTS_SINCE, Delivery  # noqa: E402
from bot.pacing import Pacer  # noqa: E402
from bot.senders import TelegramSender  # noqa: E402
from newswatch.config import AlertsConfig, Config  # noqa: E402
from newswatch.detect.pipeline import Detector  # noqa: E402
from newswatch.models import Article  # noqa: E402
from newswatch.storage import articles, connect, outbox, subscribers  # noqa: E402
from newswatch.storage import schema as tables  # noqa: E402
from newswatch.storage import stories as story_store  # noqa: E402
from newswatch.storage.subscribers import Subscriber  # noqa: E402
from tests.fixtures.botapi import FakeBotAPI  # noqa: E402


@pytest.fixture
def botapi() -> Iterator[FakeBotAPI]:
    """A fake Bot API with Telegram's default limits; chats are added by each test."""
    with FakeBotAPI() as api:
        yield api


@pytest.fixture(scope="session")
def detector() -> Detector:
    return Detector.from_config(Config(path=Path("test.toml"), storage_url="sqlite://", sources=()))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite store whose service has been alerting for an hour (the first start is over)."""
    engine = connect(f"sqlite:///{tmp_path / 'newswatch.db'}")
    story_store.set_meta(engine, ALERTS_SINCE, (datetime.now(UTC) - timedelta(hours=1)).isoformat())
    yield engine
    engine.dispose()


@pytest.fixture
def publish(store: Engine, detector: Detector) -> Callable[..., str]:
    """``publish(title, text="", source="ithome", url=None, published=None) -> story id``."""
    counter = iter(range(1, 1_000_000))

    def publish(
        title: str,
        text: str = "",
        *,
        source: str = "ithome",
        url: str | None = None,
        published: datetime | None = None,
        lang: str = "zh",
    ) -> str:
        body = text or title
        detection, keys = detector.analyze(title, body)
        article = Article(
            source=source,
            url=url or f"https://{source}.example/{next(counter)}.htm",
            title=title,
            body=body,
            summary=body,
            lang=lang,
            published=published or datetime.now(UTC),
        )
        saved = articles.save(store, article, detection, keys)
        assert saved is not None, f"{article.url} was already stored"
        return saved.story_id

    return publish


@pytest.fixture
def subscribe(store: Engine) -> Callable[..., Subscriber]:
    """``subscribe(chat_id, kind=None, regions=(), providers=(), keywords=())``: kind defaults to
    private for positive chat ids and group for negative ones."""

    def subscribe(chat_id: int, kind: str | None = None, **choices: Any) -> Subscriber:
        kind = kind or ("private" if chat_id > 0 else "group")
        sub, _ = subscribers.subscribe(store, chat_id, kind, f"chat {chat_id}")
        if choices:
            sub = subscribers.update_choices(store, chat_id, **{k: list(v) for k, v in choices.items()})
        assert sub is not None
        return sub

    return subscribe


@dataclass(frozen=True)
class Arrival:
    at: float  # time.monotonic() when the fake server took the request (or answered the error)
    method: str
    chat_id: Any
    error_code: int | None = None


class Arrivals:
    """When each request reached the fake server, and when each error was answered, watched from a
    thread through the fake's public ``wait_for`` (re-checked on every state change)."""

    def __init__(self, api: FakeBotAPI):
        self.api = api
        self.requests: list[Arrival] = []
        self.errors: list[Arrival] = []
        self._done = False
        self._thread = threading.Thread(target=self._watch, daemon=True, name="arrivals")

    def _watch(self) -> None:
        def record(api: FakeBotAPI) -> bool:
            now = time.monotonic()
            for method, params in api.requests[len(self.requests) :]:
                self.requests.append(Arrival(now, method, params.get("chat_id")))
            for error in api.errors[len(self.errors) :]:
                self.errors.append(Arrival(now, error["method"], error["chat_id"], error["error_code"]))
            return self._done

        self.api.wait_for(record, timeout=3600)

    def __enter__(self) -> Arrivals:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done = True
        self._thread.join(2)

    def sends(self, chat_id: int | None = None) -> list[float]:
        return [
            a.at
            for a in self.requests
            if a.method == "sendMessage" and (chat_id is None or a.chat_id == chat_id)
        ]


@pytest.fixture
def arrivals(botapi: FakeBotAPI) -> Iterator[Arrivals]:
    with Arrivals(botapi) as watching:
        yield watching


@pytest.fixture
def add_story(store: Engine) -> Callable[..., str]:
    """``add_story(title, **columns) -> story id``: a story row as the crawler leaves it (on-topic,
    China, OpenAI, just created), written directly, for tests that need many distinct stories."""
    counter = iter(range(1, 1_000_000))

    def add_story(title: str, **columns: Any) -> str:
        number = next(counter)
        now = datetime.now(UTC)
        url = columns.pop("url", f"https://www.ithome.com/0/900/{number:03d}.htm")
        row = {
            "id": f"s-test{number:08d}",
            "title": title,
            "url": url,
            "source": "ithome",
            "summary": f"{title}。",
            "lang": "zh",
            "published": now,
            "created": now,
            "updated": now,
            "relevant": True,
            "kept": True,
            "score": 1.0,
            "tags": {"providers": ["openai"], "services": [], "regions": ["CN"], "actions": ["block"]},
            "watched": [],
            "outlets": [{"source": "ithome", "url": url, "title": title}],
            "article_count": 1,
            **columns,
        }
        with store.begin() as conn:
            conn.execute(tables.stories.insert().values(**row))
        return row["id"]

    return add_story


@pytest.fixture
def deliver(store: Engine, botapi: FakeBotAPI) -> Callable[..., None]:
    """``deliver(pacer=None, read_timeout=5, timeout=30, api=botapi)``: run the delivery job with a real
    python-telegram-bot Bot against the fake server until nothing is pending or needs an edit."""

    def settled() -> bool:
        return outbox.counts(store).get("pending", 0) == 0 and not outbox.needing_edit(store)

    def deliver(
        pacer: Pacer | None = None,
        read_timeout: float = 5.0,
        timeout: float = 30.0,
        api: FakeBotAPI | None = None,
        alerts: AlertsConfig | None = None,
    ) -> None:
        api = api or botapi

        async def run() -> None:
            request = HTTPXRequest(connection_pool_size=32, read_timeout=read_timeout)
            async with Bot(api.token, base_url=api.base_url, request=request) as bot:
                delivery = Delivery(store, TelegramSender(bot), alerts or AlertsConfig(), pacer or Pacer())
                deadline = time.monotonic() + timeout
                await delivery.run_once()
                while not settled() and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                    await delivery.run_once()

        asyncio.run(run())

    return deliver


# --- web side (issue 10): a free port for the service's web server ------------------------------------

import socket  # noqa: E402


@pytest.fixture
def web_listen() -> str:
    """``[web] listen`` on a loopback port free right now (other tests' services may run beside)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


# --- digests (issue 11): a clock the tests move ------------------------------------------------------


class Clock:
    """Now, as the test says: aware UTC, starting at ``start`` and running at real speed (so retries
    and waits still come due); ``set`` jumps to another instant, hours away, without sleeping."""

    def __init__(self, start: datetime):
        self.set(start)

    def set(self, when: datetime) -> None:
        self._base, self._since = when, time.monotonic()

    def __call__(self) -> datetime:
        return self._base + timedelta(seconds=time.monotonic() - self._since)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 12, 1, 12, 0, tzinfo=UTC))
