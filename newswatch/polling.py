"""When a source is due, and polling the due sources of one host through the crawl workers.

Whether a source is due is decided from its state in the store alone (its last poll, its failures),
so every process that asks — the scheduler that hands a host out, the crawler that takes it, on any
machine — gets the same answer, and a source polled by one crawler is not due for another.

A host's due sources are polled together, one batch at a time: a host is never crawled by two
workers at once, and within the crawl Scrapy's per-domain concurrency holds.

When the worker crawling a batch dies (over its memory cap, hung, killed by a signal), each source of
the batch is recorded as failed with the reason, and backs off; then each is retried alone right away,
so the healthy ones still get their poll (and their new stories are alerted on time) while the one
that kills its worker fails again and backs off further. Such a source is polled alone from then on,
until it succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import Engine

from . import metrics
from .config import Config, SourceConfig
from .storage import sources as source_store
from .storage.schema import utcnow
from .storage.sources import SourceState
from .workers import KILLED, WorkerPool

log = logging.getLogger("newswatch")

MAX_BACKOFF = 3600.0  # a failing source is retried at most this far apart
MAX_EARLY = 30.0  # polling a host, take its sources due within a tenth of their interval (at most this)


def backoff_seconds(interval: float, failures: int) -> float:
    """Exponential, capped: a source failing n times in a row waits interval * 2**n (at most 1 h)."""
    if failures <= 0:
        return interval
    return min(MAX_BACKOFF, interval * 2 ** min(failures, 16))


def next_poll(source: SourceConfig, state: SourceState | None) -> datetime | None:
    """When the source is due; None when it was never polled (due now)."""
    if state is None or state.last_poll is None:
        return None
    return state.last_poll + timedelta(seconds=backoff_seconds(source.interval, state.failures))


def is_due(source: SourceConfig, state: SourceState | None, now: datetime) -> bool:
    due = next_poll(source, state)
    return due is None or due <= now


def early(source: SourceConfig) -> timedelta:
    """How early a source may be polled along with its host's due ones: the sources of one host were
    polled together and recorded one after the other, so they fall due a moment apart; without this,
    the last ones would wait for the host's next turn."""
    return timedelta(seconds=min(MAX_EARLY, source.interval / 10))


def host_of(source: SourceConfig) -> str:
    """The politeness unit, as Scrapy's per-domain slots see it: the host name."""
    return (urlsplit(source.url).hostname or "").lower()


def by_host(config: Config) -> dict[str, list[SourceConfig]]:
    hosts: dict[str, list[SourceConfig]] = {}
    for source in config.sources:
        if source.enabled:
            hosts.setdefault(host_of(source), []).append(source)
    return hosts


def suspect(state: SourceState | None) -> bool:
    """Its last poll killed a crawl worker: polled alone, so it cannot take others down with it."""
    return bool(state and state.failures and (state.last_error or "").startswith(KILLED))


class HostPoller:
    """Polls whatever is due on a host, now; ``on_polled`` hears which sources were polled."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        pool: WorkerPool,
        on_polled: Callable[[list[str]], Awaitable[None]] | None = None,
    ):
        self.engine = engine
        self.pool = pool
        self.on_polled = on_polled
        self.hosts = by_host(config)

    async def poll(self, host: str) -> list[str]:
        sources = self.hosts.get(host, [])
        states = await asyncio.to_thread(source_store.states, self.engine, [s.name for s in sources])
        now = utcnow()
        due = [s.name for s in sources if is_due(s, states.get(s.name), now + early(s))]
        alone = [name for name in due if suspect(states.get(name))]
        together = [name for name in due if name not in alone]
        for name in due:
            metrics.poll_due(name)
        if together:
            await self._crawl(together, alone=False)
        for name in alone:
            await self._crawl([name], alone=True)
        if due:
            polled = await asyncio.to_thread(source_store.states, self.engine, due)
            for name in due:
                state = polled.get(name)
                metrics.poll_finished(name, ok=state is not None and state.failures == 0)
        if due and self.on_polled is not None:
            await self.on_polled(due)
        return due

    async def _crawl(self, names: list[str], alone: bool) -> None:
        outcome = await self.pool.crawl(names, alone=alone)
        if outcome.killed is None:
            return
        await asyncio.to_thread(self._record_failures, names, outcome.killed)
        if len(names) == 1:
            return
        log.warning("retrying each of %d sources alone after: %s", len(names), outcome.killed)
        for name in names:
            retry = await self.pool.crawl([name], alone=True)
            if retry.killed is not None:
                log.error("%s: %s; it backs off and is polled alone", name, retry.killed)
                await asyncio.to_thread(self._record_failures, [name], retry.killed)

    def _record_failures(self, names: list[str], reason: str) -> None:
        for name in names:
            source_store.record_failure(self.engine, name, reason)
