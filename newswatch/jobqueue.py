"""The job queue between a scheduler and crawlers on several machines: procrastinate, on the store's
PostgreSQL (``pip install 'newswatch[scale]'``).

One job polls one host: ``poll_host(host)``, deferred with ``queueing_lock=host`` (at most one waiting
job per host: a scheduler handing a host out again changes nothing) and ``lock=host`` (jobs of one
host run one after the other, on whichever crawler: per-host politeness across machines). The job
itself decides from the store which sources of the host are due, so a host's job that waited, or was
deferred by two schedulers, polls each source once.

A crawler sends a heartbeat every ``HEARTBEAT`` seconds. When one dies (a machine lost, ``kill -9``),
its running jobs stay "doing"; the scheduler finds them once the heartbeat is ``STALLED_AFTER`` old,
marks them failed and hands their hosts out again, so another crawler polls them. Nothing polled is
lost: a source's poll is recorded (and its validators kept) only after every article of it is stored.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.engine import make_url

from .config import Config, ConfigError

log = logging.getLogger("newswatch")

TASK = "newswatch.poll_host"
HEARTBEAT = 3.0
STALLED_AFTER = 15.0
SHUTDOWN_GRACE = 4.0  # a stopping crawler lets its running polls finish this long
KEEP_FAILED_HOURS = 24


def conninfo(storage_url: str) -> str:
    """The libpq URI of an SQLAlchemy PostgreSQL URL (options such as search_path kept); ValueError
    for any other store."""
    url = make_url(storage_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"the scheduler and crawler roles share a PostgreSQL store (got {url.drivername})")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class JobQueue:
    def __init__(self, config: Config):
        try:
            from procrastinate import App, PsycopgConnector, exceptions, jobs
        except ImportError:
            raise ConfigError(
                "the scheduler and crawler roles need the job queue: pip install 'newswatch[scale]'"
            ) from None
        self.app = App(connector=PsycopgConnector(conninfo=conninfo(config.storage_url)))
        self._already_enqueued = exceptions.AlreadyEnqueued
        self._failed = jobs.Status.FAILED

    async def open(self) -> None:
        await self.app.open_async()
        if not await self.app.check_connection_async():  # no procrastinate tables yet
            try:
                await self.app.schema_manager.apply_schema_async()
            except Exception:
                if not await self.app.check_connection_async():
                    raise
                # another role created them meanwhile

    async def close(self) -> None:
        await self.app.close_async()

    # --- scheduler side -------------------------------------------------------------------------------

    async def submit(self, host: str) -> None:
        deferrer = self.app.configure_task(TASK, lock=host, queueing_lock=host)
        with contextlib.suppress(self._already_enqueued):  # its waiting job polls what is due then
            await deferrer.defer_async(host=host)

    async def recover(self) -> list[str]:
        """Fail the polls of crawlers that stopped sending heartbeats; returns their hosts."""
        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(task_name=TASK, seconds_since_heartbeat=STALLED_AFTER)
        hosts = []
        for job in stalled:
            assert job.id is not None
            await manager.finish_job_by_id_async(job.id, status=self._failed, delete_job=False)
            hosts.append(job.task_kwargs["host"])
        if hosts:
            log.warning("a crawler stopped answering: %d hosts handed out again", len(hosts))
        return hosts

    async def prune(self) -> None:
        await self.app.job_manager.delete_old_jobs(
            nb_hours=KEEP_FAILED_HOURS, include_failed=True, include_cancelled=True, include_aborted=True
        )

    # --- crawler side ---------------------------------------------------------------------------------

    async def work(self, poll: Callable[[str], Awaitable[Any]], concurrency: int) -> None:
        """Take hosts' jobs until cancelled; ``concurrency`` hosts at once."""

        async def poll_host(host: str) -> None:
            await poll(host)

        self.app.task(name=TASK)(poll_host)
        await self.app.run_worker_async(
            concurrency=concurrency,
            install_signal_handlers=False,
            update_heartbeat_interval=HEARTBEAT,
            stalled_worker_timeout=STALLED_AFTER,
            shutdown_graceful_timeout=SHUTDOWN_GRACE,
            delete_jobs="successful",
        )
