"""Scale-out: ``newswatch run --role scheduler`` and two ``--role crawler`` processes, as deployed on
three machines, sharing this machine's PostgreSQL (store and procrastinate job queue) and polling three
local news sites on three loopback addresses.

Each crawler names itself in its User-Agent, so the sites' request logs tell who polled what, when.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from sqlalchemy import create_engine, func, select, text

from bot.delivery import ALERTS_SINCE
from newswatch.storage import connect, schema
from newswatch.storage import stories as story_store
from newswatch.storage.instance import KEY as LEASE
from tests.fixtures.newssite import NewsSite

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parent.parent
INTERVAL = 3.0
HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
FEEDS_PER_HOST = 3


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = os.environ.get("NEWSWATCH_TEST_DATABASE_URL")
    if not base:
        pytest.skip("scale-out needs PostgreSQL: set NEWSWATCH_TEST_DATABASE_URL")
    name = f"nw_scale_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()


@dataclass(frozen=True)
class Poll:
    at: float
    path: str  # host/feed
    by: str  # which crawler


class Requests:
    """Every feed request the sites receive, timestamped by a watching thread."""

    def __init__(self, sites: list[NewsSite]):
        self.sites = sites
        self.polls: list[Poll] = []
        self._seen = [0] * len(sites)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(0.02):
            for i, site in enumerate(self.sites):
                records = list(site.requests)
                for record in records[self._seen[i] :]:
                    if record.path.startswith("/feeds/"):
                        agent = record.headers.get("User-Agent", "")
                        self.polls.append(Poll(time.monotonic(), site.host + record.path, agent))
                self._seen[i] = len(records)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(2)


class Role:
    def __init__(self, config: Path, role: str):
        self.log = config.with_name(f"{config.stem}-{role}.log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "newswatch", "--config", str(config), "run", "--role", role],
            cwd=ROOT,
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def write_config(path: Path, url: str, sites: list[NewsSite], agent: str) -> Path:
    lines = [f'[storage]\nurl = "{url}"\n', f'[crawl]\nuser_agent = "{agent}"\nmax_parallel_crawls = 1\n']
    for site in sites:
        for i in range(FEEDS_PER_HOST):
            name = f"h{site.host.rsplit('.', 1)[1]}-f{i}"
            lines.append(
                f'[[sources]]\nname = "{name}"\nkind = "rss"\nurl = "{site.base_url}/feeds/{name}.xml"\n'
                f"interval = {INTERVAL}\n"
            )
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def wait_for(condition, timeout: float, roles: list[Role], what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for role in roles:
            assert role.proc.poll() is None, f"{role.log.name} exited:\n{role.log.read_text()[-3000:]}"
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {r.log.name}\n{r.log.read_text()[-3000:]}" for r in roles)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.1)


def test_two_crawlers_share_the_polls_and_a_killed_one_loses_nothing(tmp_path: Path, pg_url: str) -> None:
    sites = [NewsSite(host=host).start() for host in HOSTS]
    roles: list[Role] = []
    try:
        for site in sites:
            for i in range(FEEDS_PER_HOST):
                feed = site.add_feed(f"h{site.host.rsplit('.', 1)[1]}-f{i}")
                for n in range(2):
                    site.add_feed_item(feed.name, f"{feed.name} story {n}", [f"Text of {feed.name} {n}."])
        requests = Requests(sites)
        scheduler_config = write_config(tmp_path / "scheduler.toml", pg_url, sites, "scheduler")
        roles.append(Role(scheduler_config, "scheduler"))
        a = Role(write_config(tmp_path / "a.toml", pg_url, sites, "crawler-a"), "crawler")
        b = Role(write_config(tmp_path / "b.toml", pg_url, sites, "crawler-b"), "crawler")
        roles += [a, b]
        delivery = Role(scheduler_config, "delivery")
        roles.append(delivery)
        engine = connect(pg_url)

        def stored() -> int:
            with engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(schema.articles)).scalar_one()

        feeds = [f"h{site.host.rsplit('.', 1)[1]}-f{i}" for site in sites for i in range(FEEDS_PER_HOST)]
        items = {"count": 2 * len(feeds)}

        def all_items() -> int:
            return items["count"]

        wait_for(lambda: stored() == all_items(), 90, roles, "the first round")
        # the delivery role saw the crawlers' first round in the store: alerts start, and only it
        # holds the lease (crawlers and schedulers never take it)
        wait_for(lambda: story_store.get_meta(engine, ALERTS_SINCE) is not None, 30, roles, "alerts to start")
        assert f'"pid": {delivery.proc.pid},' in (story_store.get_meta(engine, LEASE) or "")
        command = ["-m", "newswatch", "--config", str(scheduler_config), "run", "--role", "delivery"]
        second = subprocess.run(
            [sys.executable, *command],
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2 and "another newswatch is running on this store" in second.stderr
        time.sleep(3 * INTERVAL)  # a few rounds of 304s

        # News everywhere: the next poll of each feed fetches 15 pages. Kill crawler A in one of them.
        for site in sites:
            for name in [f for f in feeds if f.startswith(f"h{site.host.rsplit('.', 1)[1]}-")]:
                for n in range(2, 17):
                    site.add_feed_item(name, f"{name} story {n}", [f"Text of {name} {n}."])
        items["count"] += 15 * len(feeds)
        published = time.monotonic()
        wait_for(
            lambda: any(p.by == "crawler-a" and p.at > published for p in requests.polls),
            60,
            roles,
            "crawler A to poll",
        )
        workers = psutil.Process(a.proc.pid).children()
        a.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        a.proc.wait(5)
        roles.remove(a)
        in_flight = {p.path for p in requests.polls if p.by == "crawler-a" and p.at > published}

        wait_for(lambda: stored() == all_items(), 120, roles, "every article after the kill")
        time.sleep(2 * INTERVAL)
        requests.stop()
        engine.dispose()

        assert all(not w.is_running() or w.status() == psutil.STATUS_ZOMBIE for w in workers)
        # what A was polling when it died was polled again, by B
        for path in in_flight:
            assert any(p.path == path and p.by == "crawler-b" and p.at > killed for p in requests.polls), path
        # never two polls of one source within an interval, by either crawler
        for path in {p.path for p in requests.polls}:
            times = sorted(p.at for p in requests.polls if p.path == path)
            gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
            assert min(gaps) > 0.5 * INTERVAL, (path, gaps)
        assert {p.by for p in requests.polls} == {"crawler-a", "crawler-b"}
    finally:
        for role in roles:
            role.stop()
        for site in sites:
            site.stop()
