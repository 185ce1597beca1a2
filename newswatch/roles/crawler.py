"""The crawler role: this machine's crawl workers, polling the hosts the job queue hands out.

Needs neither the bot token nor the instance lease; run as many as the sources need, each with
``[crawl] max_parallel_crawls`` workers, on any machine that reaches the store's PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import Engine

from ..config import Config
from ..jobqueue import JobQueue
from ..polling import HostPoller
from ..workers import WorkerPool

log = logging.getLogger("newswatch")

# Hosts a crawler holds at once, per crawl it can run: enough to merge a few hosts into each batch and
# keep its workers busy, few enough that a busy crawler does not hoard hosts an idle one could poll.
HOSTS_PER_CRAWL = 4


class CrawlerRole:
    def __init__(self, config: Config, engine: Engine, stopping: asyncio.Event):
        self.stopping = stopping
        self.queue = JobQueue(config)
        self.pool = WorkerPool(config)
        self.poller = HostPoller(config, engine, self.pool)
        self._work: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.queue.open()
        self.pool.start()
        hosts = self.pool.capacity * HOSTS_PER_CRAWL
        self._work = asyncio.create_task(self.queue.work(self.poller.poll, hosts))
        self._work.add_done_callback(self._ended)
        log.info("crawler running: %d crawl workers, taking hosts from the job queue", self.pool.size)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled():
            log.error("the job queue worker stopped (%s): stopping", task.exception())
            self.stopping.set()

    async def stop(self) -> None:
        if self._work is not None:
            self._work.remove_done_callback(self._ended)
            self._work.cancel()  # procrastinate lets running polls finish first, then stops
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._work
        await self.pool.stop()
        await self.queue.close()
