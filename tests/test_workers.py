"""Crawl workers: long-lived ``scrapers.worker`` processes running real Scrapy crawls against the local
news site, supervised by ``newswatch.workers`` (memory cap, batch timeout, recycling) and fed by
``newswatch.polling`` (a killed batch fails with a reason, backs off, and its sources are retried alone).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import func, select

from newswatch import config as cfg
from newswatch.polling import HostPoller, host_of, suspect
from newswatch.roles.scheduler import LocalQueue, Scheduler
from newswatch.storage import connect, schema, sources
from newswatch.workers import WorkerPool
from scrapers import context
from tests.fixtures.newssite import NewsSite

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

HOG_PARAGRAPHS = 40_000  # a 38 MB full-content item: reading it, a worker grows well past a 250 MB cap


def write_config(tmp_path: Path, site: NewsSite, feeds: dict[str, str], crawl: str = "", interval=60) -> Path:
    """A config polling ``feeds`` (name -> path on the site)."""
    lines = [f'[storage]\nurl = "sqlite:///{tmp_path / "store.db"}"\n', f"[crawl]\n{crawl}\n"]
    for name, path in feeds.items():
        url = site.base_url + path
        lines.append(f'[[sources]]\nname = "{name}"\nkind = "rss"\nurl = "{url}"\ninterval = {interval}\n')
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def stored(config: cfg.Config, source: str) -> int:
    engine = connect(config.storage_url)
    with engine.connect() as conn:
        query = select(func.count()).select_from(schema.articles).where(schema.articles.c.source == source)
        count = conn.execute(query).scalar_one()
    engine.dispose()
    return count


def with_pool(config: cfg.Config, scenario: Callable[[WorkerPool], Awaitable[Any]], workers: int = 1) -> Any:
    async def run() -> Any:
        pool = WorkerPool(config, workers=workers)
        pool.start()
        try:
            return await scenario(pool)
        finally:
            await pool.stop()

    return asyncio.run(run())


async def running_worker(pool: WorkerPool, index: int = 0) -> psutil.Process:
    """The worker process of slot ``index`` once it is ready for a batch."""
    while True:
        worker = pool.workers[index]
        if worker is not None and worker.alive:
            assert worker.pid is not None
            return psutil.Process(worker.pid)
        await asyncio.sleep(0.05)


def test_one_worker_runs_poll_after_poll_on_one_reactor(tmp_path: Path, site: NewsSite) -> None:
    site.add_feed("verge")
    site.add_feed_item("verge", "Gemini leaves another region", ["Google said Gemini would stop there."])
    config = cfg.load(write_config(tmp_path, site, {"verge": "/feeds/verge.xml"}))

    async def scenario(pool: WorkerPool) -> list[int]:
        pids = []
        for _ in range(3):
            assert (await pool.crawl(["verge"])).killed is None
            pids.append((await running_worker(pool)).pid)
        return pids

    pids = with_pool(config, scenario)
    assert len(set(pids)) == 1  # one process, three crawls
    assert [r.status for r in site.requests if r.path == "/feeds/verge.xml"] == [200, 304, 304]
    assert stored(config, "verge") == 1


def test_a_worker_over_its_memory_cap_is_replaced_and_the_healthy_source_still_gets_its_poll(
    tmp_path: Path, site: NewsSite
) -> None:
    site.add_feed("hog", full_content=True)
    paragraph = "OpenAI restricts access in Hong Kong. " * 25
    site.add_feed_item("hog", "A very long story", [paragraph] * HOG_PARAGRAPHS)
    site.add_feed("healthy")
    site.add_feed_item("healthy", "ChatGPT is blocked in Italy", ["The regulator ordered a block."])
    path = write_config(
        tmp_path,
        site,
        {"hog": "/feeds/hog.xml", "healthy": "/feeds/healthy.xml"},
        crawl='max_memory = "250MB"\nmax_bytes = 100000000',
    )
    config = cfg.load(path)
    engine = connect(config.storage_url)

    async def scenario(pool: WorkerPool) -> tuple[int, int]:
        poll = asyncio.create_task(HostPoller(config, engine, pool).poll(host_of(config.source("hog"))))
        first = (await running_worker(pool)).pid  # started for the batch
        polled = await poll
        assert sorted(polled) == ["healthy", "hog"]
        return first, (await running_worker(pool)).pid

    first, replacement = with_pool(config, scenario)
    assert replacement != first
    hog, healthy = sources.get(engine, "hog"), sources.get(engine, "healthy")
    # the batch, then the hog alone: two failures, so it backs off 4 intervals, and is polled alone
    assert hog.failures == 2 and hog.last_error.startswith("crawl worker killed: memory over 250 MB")
    assert suspect(hog)
    assert healthy.failures == 0 and healthy.last_success is not None and not suspect(healthy)
    assert stored(config, "healthy") == 1 and stored(config, "hog") == 0
    engine.dispose()


def test_a_worker_killed_by_a_signal_fails_its_batch_only(tmp_path: Path, site: NewsSite) -> None:
    site.add_feed("verge")
    site.add_feed_item("verge", "Gemini leaves another region", ["Google said Gemini would stop there."])
    config = cfg.load(
        write_config(tmp_path, site, {"slow": "/broken/slow-body.xml", "verge": "/feeds/verge.xml"})
    )

    async def scenario(pool: WorkerPool) -> tuple[str | None, str | None]:
        crawl = asyncio.create_task(pool.crawl(["slow"]))
        worker = await running_worker(pool)
        while not any(r.path == "/broken/slow-body.xml" for r in site.requests):
            await asyncio.sleep(0.05)
        worker.send_signal(signal.SIGKILL)  # what the kernel's OOM killer does
        killed = (await crawl).killed
        return killed, (await pool.crawl(["verge"])).killed

    killed, after = with_pool(config, scenario)
    assert killed == "crawl worker killed by SIGKILL"
    assert after is None and stored(config, "verge") == 1  # a new worker took the next batch


def test_a_hung_worker_is_killed_after_the_batch_timeout(tmp_path: Path, site: NewsSite) -> None:
    site.add_feed("verge")
    path = write_config(tmp_path, site, {"verge": "/feeds/verge.xml"}, crawl='batch_timeout = "10s"')
    config = cfg.load(path)

    async def scenario(pool: WorkerPool) -> tuple[str | None, str | None]:
        assert (await pool.crawl(["verge"])).killed is None  # a worker starts when there is work
        (await running_worker(pool)).suspend()  # SIGSTOP: alive, but never answers
        hung = (await pool.crawl(["verge"])).killed
        return hung, (await pool.crawl(["verge"])).killed

    hung, after = with_pool(config, scenario)
    assert hung == "crawl worker killed: no answer to a batch after 10 s"
    assert after is None


def test_a_worker_is_recycled_after_its_crawls_without_losing_a_queued_batch(
    tmp_path: Path, site: NewsSite
) -> None:
    site.add_feed("verge")
    path = write_config(tmp_path, site, {"verge": "/feeds/verge.xml"}, crawl="worker_max_crawls = 2")
    config = cfg.load(path)

    async def scenario(pool: WorkerPool) -> tuple[list[str | None], set[int]]:
        pids: set[int] = set()

        async def watch() -> None:
            while True:
                worker = pool.workers[0]
                if worker is not None and worker.pid is not None:
                    pids.add(worker.pid)
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        outcomes = await asyncio.gather(*(pool.crawl(["verge"], alone=True) for _ in range(5)))
        watcher.cancel()
        return [o.killed for o in outcomes], pids

    killed, pids = with_pool(config, scenario)
    assert killed == [None] * 5  # all five queued batches crawled
    assert len(pids) >= 3  # 2 + 2 + 1 crawls: three workers
    assert len([r for r in site.requests if r.path == "/feeds/verge.xml"]) == 5


def test_the_bot_token_never_reaches_a_crawl_worker(
    tmp_path: Path, site: NewsSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.add_feed("verge")
    path = write_config(tmp_path, site, {"verge": "/feeds/verge.xml"})
    path.write_text(path.read_text() + '\n[telegram]\ntoken = "123:from-the-file"\n', encoding="utf-8")
    monkeypatch.setenv(cfg.TOKEN_ENV, "123:from-the-environment")
    config = cfg.load(path)
    assert config.telegram.token == "123:from-the-environment"

    async def scenario(pool: WorkerPool) -> dict[str, str]:
        await pool.crawl(["verge"])  # a worker starts when there is work
        return (await running_worker(pool)).environ()

    environ = with_pool(config, scenario)
    assert cfg.TOKEN_ENV not in environ and os.environ[cfg.TOKEN_ENV] == "123:from-the-environment"
    monkeypatch.delenv(cfg.TOKEN_ENV)
    assert context.load_config(str(path)).telegram.token == ""  # what a worker (or scrapy crawl) loads


def test_a_host_handed_out_while_it_is_polled_is_polled_once(tmp_path: Path, site: NewsSite) -> None:
    names = {f"feed{i}": f"/feeds/feed{i}.xml" for i in range(4)}
    for name in names:
        site.add_feed(name)
        site.add_feed_item(name, f"{name} story", ["Some text."])
    config = cfg.load(write_config(tmp_path, site, names, interval=3600))
    engine = connect(config.storage_url)
    handed: list[str] = []

    async def scenario(pool: WorkerPool) -> None:
        queue = LocalQueue(HostPoller(config, engine, pool))

        async def submit(host: str) -> None:
            handed.append(host)
            await queue.submit(host)

        scheduler = Scheduler(config, engine, submit)
        await scheduler.load()
        await scheduler.tick()  # every feed is due: their one host is handed out
        scheduler.lost(["127.0.0.1"])  # as if its job were lost: handed out again while polled
        await scheduler.tick()
        await queue.submit("127.0.0.1")
        while queue._running:
            await asyncio.sleep(0.05)
        scheduler.lost(["127.0.0.1"])
        await scheduler.tick()  # polled now: nothing due for an hour

    with_pool(config, scenario, workers=2)
    assert handed == ["127.0.0.1", "127.0.0.1"]
    polls = [r.path for r in site.requests if r.path.startswith("/feeds/")]
    assert sorted(polls) == sorted(names.values())  # each feed once, in one crawl
    assert all(sources.get(engine, n).last_success is not None for n in names)
    engine.dispose()
