"""The scheduler role: every second, hand each host that has a due source to the crawl queue.

It keeps the sources' states in memory, catching up each tick with the rows polled since the last one
(one small query, whoever polled them), and decides which hosts are due (``polling.is_due``). What is
polled is decided again from the store when the host's turn comes, so a host handed out twice, or by
two schedulers, is still polled once.

Two queues take hosts: ``LocalQueue`` here (``--role all``), and the job queue (``jobqueue``) for
crawlers on other machines (``SchedulerRole``, ``--role scheduler``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine

from ..config import Config
from ..polling import HostPoller, by_host, is_due
from ..storage import sources as source_store
from ..storage.schema import utcnow
from ..storage.sources import SourceState

log = logging.getLogger("newswatch")

TICK = 1.0  # seconds between two looks at what is due
CATCH_UP_MARGIN = timedelta(seconds=60)  # re-read rows this much older than the last look (slow commits)
MAX_GUARD = 60.0  # a host is not handed out again sooner than this, or a quarter of its shortest interval


class Scheduler:
    def __init__(self, config: Config, engine: Engine, submit: Callable[[str], Awaitable[None]]):
        self.engine = engine
        self.submit = submit
        self.hosts = by_host(config)
        self.states: dict[str, SourceState] = {}
        self._looked = utcnow()
        # When each host was last handed out: if the store does not record its polls (a write fails),
        # a host is not handed out again at every tick; the guard is lifted when its job was lost.
        self._handed: dict[str, float] = {}

    async def load(self) -> None:
        self._looked = utcnow()
        self.states = await asyncio.to_thread(source_store.all_states, self.engine)

    async def tick(self) -> None:
        since, self._looked = self._looked - CATCH_UP_MARGIN, utcnow()
        self.states.update(await asyncio.to_thread(source_store.polled_since, self.engine, since))
        now, clock = utcnow(), time.monotonic()
        for host, sources in self.hosts.items():
            guard = min(MAX_GUARD, min(s.interval for s in sources) / 4)
            if clock < self._handed.get(host, -guard) + guard:
                continue
            if any(is_due(s, self.states.get(s.name), now) for s in sources):
                self._handed[host] = clock
                await self.submit(host)

    def lost(self, hosts: list[str]) -> None:
        """These hosts' polls were lost (their crawler died): hand them out again at the next tick."""
        for host in hosts:
            self._handed.pop(host, None)


async def schedule(
    config: Config, engine: Engine, jobs: AsyncIOScheduler, submit: Callable[[str], Awaitable[None]]
) -> Scheduler:
    """A scheduler handing due hosts to ``submit``, ticking among ``jobs``."""
    scheduler = Scheduler(config, engine, submit)
    await scheduler.load()
    jobs.add_job(scheduler.tick, "interval", id="schedule", seconds=TICK, coalesce=True)
    return scheduler


class SchedulerRole:
    """``--role scheduler``: hosts go to the job queue, for crawlers anywhere; the polls of a crawler
    that went silent are failed and their hosts handed out again."""

    RECOVER_EVERY = 5.0

    def __init__(self, config: Config, engine: Engine):
        from ..jobqueue import JobQueue

        self.config = config
        self.engine = engine
        self.queue = JobQueue(config)

    async def start(self, jobs: AsyncIOScheduler) -> None:
        await self.queue.open()
        scheduler = await schedule(self.config, self.engine, jobs, self.queue.submit)

        async def recover() -> None:
            scheduler.lost(await self.queue.recover())

        jobs.add_job(recover, "interval", id="recover", seconds=self.RECOVER_EVERY, coalesce=True)
        jobs.add_job(self.queue.prune, "interval", id="prune", hours=1, coalesce=True)

    async def stop(self) -> None:
        await self.queue.close()


class LocalQueue:
    """Hosts polled in this process: one pending and one running poll per host, like the job queue's
    queueing lock and lock, without a database."""

    def __init__(self, poller: HostPoller):
        self.poller = poller
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()

    async def submit(self, host: str) -> None:
        if host in self._running:
            self._again.add(host)
        else:
            self._running[host] = asyncio.create_task(self._poll(host))

    async def _poll(self, host: str) -> None:
        try:
            while True:
                try:
                    await self.poller.poll(host)
                except Exception:  # this host's poll only: the next tick tries again
                    log.exception("poll of %s failed", host)
                if host not in self._again:
                    return
                self._again.discard(host)
        finally:
            self._running.pop(host, None)

    async def stop(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
