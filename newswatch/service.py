"""``newswatch run``: the long-running service, wiring its roles together (``newswatch.roles``).

``--role all`` (the default) is the single machine: the scheduler, this machine's crawl workers and
delivery in one process, with SQLite or PostgreSQL and nothing else. Past one machine each role runs on
its own (``--role scheduler``, ``--role crawler`` on as many machines as needed, ``--role delivery``),
sharing one PostgreSQL store and its job queue (``jobqueue``).

APScheduler (asyncio) drives the periodic jobs of every role in the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from . import logredact
from .config import Config
from .roles.scheduler import SchedulerRole, schedule
from .storage import connect
from .storage.db import SMALL_CACHE_KIB

if TYPE_CHECKING:
    from .roles.delivery import DeliveryRole

log = logging.getLogger("newswatch")

ROLES = ("all", "scheduler", "crawler", "delivery")
SHUTDOWN_GRACE = 8.0  # SIGTERM to exit: under 10 s


class Service:
    def __init__(self, config: Config, role: str = "all", engine: Engine | None = None):
        assert role in ROLES
        self.config = config
        self.role = role
        # the crawls (in their workers) join stories; this process reads a few rows at a time
        self.engine = engine or connect(config.storage_url, cache_kib=SMALL_CACHE_KIB)
        self.jobs = AsyncIOScheduler(timezone=UTC)
        self.stopping = asyncio.Event()
        self._stops: list[Callable[[float], Awaitable[None]]] = []  # run in reverse order on the way out
        self.delivery: DeliveryRole | None = None

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        try:
            status = await self.start()
            if status is None:
                self.jobs.start()
                store = make_url(self.config.storage_url).render_as_string(hide_password=True)
                log.info("newswatch running (role %s), store %s", self.role, store)
                await self.stopping.wait()
        finally:
            await self.shutdown()
        if status is None and self.delivery is not None and self.delivery.token_rejected:
            return 2  # the supervisor restarts it or raises the alarm, instead of a deaf service
        return status or 0

    async def start(self) -> int | None:
        """Start this process's roles; an exit status when it cannot run."""
        delivery = None
        if self.role in ("all", "delivery"):
            from .roles.delivery import DeliveryRole

            delivery = self.delivery = DeliveryRole(self.config, self.engine, self.stopping)
            status = await delivery.start(self.jobs)
            if status is not None:
                return status
            self._stops.append(delivery.stop)
            if self.config.web.address:  # the web side runs beside delivery: it shows what is sent
                status = await self._start_web(delivery)
                if status is not None:
                    return status
        if self.role == "all":
            assert delivery is not None
            await self._start_local(delivery.crawled)
        elif self.role == "scheduler":
            scheduler = SchedulerRole(self.config, self.engine)
            await scheduler.start(self.jobs)
            self._stops.append(lambda _grace: scheduler.stop())
        elif self.role == "crawler":
            from .roles.crawler import CrawlerRole

            crawler = CrawlerRole(self.config, self.engine, self.stopping)
            await crawler.start()
            self._stops.append(lambda _grace: crawler.stop())
        return None

    async def _start_web(self, delivery: DeliveryRole) -> int | None:
        from .web.app import WebServer  # here: its libraries load only when the web side is on
        from .web.health import Health

        web = WebServer(self.config, self.engine, Health(self.config.storage_url, self.jobs, delivery.app))
        try:
            await web.start()
        except OSError as exc:
            log.error("web: cannot listen on %s (%s)", self.config.web.listen, exc.strerror or exc)
            return 2
        self._stops.append(lambda _grace: web.stop())
        return None

    async def _start_local(self, on_polled: Callable[[list[str]], Awaitable[None]]) -> None:
        from .polling import HostPoller
        from .roles.scheduler import LocalQueue
        from .workers import WorkerPool

        pool = WorkerPool(self.config)
        pool.start()
        self._stops.append(lambda _grace: pool.stop())
        queue = LocalQueue(HostPoller(self.config, self.engine, pool, on_polled))
        self._stops.append(lambda _grace: queue.stop())
        await schedule(self.config, self.engine, self.jobs, queue.submit)

    async def shutdown(self) -> None:
        """Stop taking work, then each role in reverse order of starting; all within ``SHUTDOWN_GRACE``."""
        log.info("stopping")
        deadline = time.monotonic() + SHUTDOWN_GRACE
        if self.jobs.running:
            self.jobs.shutdown(wait=False)
        for stop in reversed(self._stops):
            left = max(0.5, deadline - time.monotonic())
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stop(left), left)
        self.engine.dispose()
        log.info("stopped")


class _ShutdownCancellations(logging.Filter):
    """Drop APScheduler's traceback for a job cancelled by ``shutdown(wait=False)``: its asyncio
    executor cancels in-flight coroutine jobs (a lease renewal, a delivery tick) by design, and the
    roles finish that work themselves in ``stop``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


def quiet_shutdown_cancellations() -> None:
    executor_log = logging.getLogger("apscheduler.executors.default")
    if not any(isinstance(f, _ShutdownCancellations) for f in executor_log.filters):
        executor_log.addFilter(_ShutdownCancellations())


def run(config: Config, role: str = "all", engine: Engine | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    quiet_shutdown_cancellations()
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    with logredact.redacting(config.telegram.token):
        try:
            return asyncio.run(Service(config, role, engine).main())
        except Exception:  # logged, so that the traceback is redacted too
            log.exception("newswatch stopped on an unexpected error")
            return 1
