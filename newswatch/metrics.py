"""Prometheus metrics of the service, in one registry served at ``/metrics``.

Two kinds live here. Events the service itself sees (polls finishing, sends, edits, drops, 429s)
are counters and histograms updated by one-line calls from where they happen. Quantities the store
already knows — articles and stories written by the crawls, outbox depth, which sources are up —
are read from the store when Prometheus scrapes (:class:`StoreCollector`), so they are right even
for what other processes wrote and right again after a restart.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from .config import Config
from .storage import schema
from .storage.outbox import PENDING

disable_created_metrics()  # no *_created samples: they double every series for nothing here
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # memory and CPU of the service process

POLLS = Counter(
    "newswatch_polls",
    "Polls finished, by source and outcome (ok, failed)",
    ["source", "outcome"],
    registry=REGISTRY,
)
POLL_DURATION = Histogram(
    "newswatch_poll_duration_seconds",
    "Seconds from a poll falling due to its results being stored (queueing for a crawl slot included)",
    ["source"],
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
ALERTS_SENT = Counter("newswatch_alerts_sent", "Alerts sent to a chat", registry=REGISTRY)
ALERTS_EDITED = Counter(
    "newswatch_alerts_edited", 'Sent alerts edited to add "also reported by"', registry=REGISTRY
)
ALERTS_DROPPED = Counter(
    "newswatch_alerts_dropped",
    "Alerts given up on, by reason (refused: Telegram rejected the message; chat_gone: the chat "
    "blocked the bot or no longer exists; story_missing)",
    ["reason"],
    registry=REGISTRY,
)
ALERT_LATENCY = Histogram(
    "newswatch_alert_latency_seconds",
    "Seconds from a story first being seen to the first successful send of its alert",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
TELEGRAM_429 = Counter(
    "newswatch_telegram_429", "Telegram answers 429 Too Many Requests (flood waits)", registry=REGISTRY
)
TELEGRAM_PAUSE = Gauge(
    "newswatch_telegram_pause_seconds",
    "Seconds left of the current 429 pause (0: sending)",
    registry=REGISTRY,
)

_due: dict[str, float] = {}  # source -> time.monotonic() its pending poll fell due
_LATENCY_MEMORY = 10_000
_first_sent: OrderedDict[str, None] = OrderedDict()  # stories whose first send was observed


def poll_due(source: str) -> None:
    """A poll was handed to the crawler; the first one pending counts (polls coalesce)."""
    _due.setdefault(source, time.monotonic())


def poll_finished(source: str, ok: bool) -> None:
    POLLS.labels(source, "ok" if ok else "failed").inc()
    started = _due.pop(source, None)
    if started is not None:  # a re-poll the crawler started by itself has no due time
        POLL_DURATION.labels(source).observe(time.monotonic() - started)


def alert_sent(story_id: str, first_seen: datetime) -> None:
    """One alert sent; the story's first send (in this process) also measures its latency."""
    ALERTS_SENT.inc()
    if story_id in _first_sent:
        return
    _first_sent[story_id] = None
    if len(_first_sent) > _LATENCY_MEMORY:
        _first_sent.popitem(last=False)
    ALERT_LATENCY.observe(max(0.0, (datetime.now(UTC) - first_seen).total_seconds()))


def alerts_dropped(reason: str, count: int = 1) -> None:
    ALERTS_DROPPED.labels(reason).inc(count)


def watch_pause(seconds_left: Callable[[], float]) -> None:
    """The pause gauge reads the pacer when scraped."""
    TELEGRAM_PAUSE.set_function(lambda: max(0.0, seconds_left()))


class StoreCollector(Collector):
    """Store-derived metrics, read at scrape time (``generate_latest`` runs off the event loop)."""

    def __init__(self, engine: Engine, config: Config):
        self.engine = engine
        self.sources = [s.name for s in config.sources if s.enabled]

    def collect(self) -> Iterator[Metric]:
        articles = CounterMetricFamily("newswatch_articles", "Articles stored, by source", labels=["source"])
        stories = CounterMetricFamily(
            "newswatch_stories",
            "Stories stored, by relevance (relevant, watched: off-topic but a watched keyword matched, "
            "off_topic)",
            labels=["relevance"],
        )
        depth = GaugeMetricFamily("newswatch_outbox_depth", "Alerts waiting in the outbox to be sent")
        up = GaugeMetricFamily(
            "newswatch_source_up",
            "1 when the source's last poll succeeded, 0 when it failed",
            labels=["source"],
        )
        t = schema
        with self.engine.connect() as conn:
            for source, count in conn.execute(
                select(t.articles.c.source, func.count()).group_by(t.articles.c.source)
            ):
                articles.add_metric([source], count)
            by_relevance = {"relevant": 0, "watched": 0, "off_topic": 0}
            for relevant, kept, count in conn.execute(
                select(t.stories.c.relevant, t.stories.c.kept, func.count()).group_by(
                    t.stories.c.relevant, t.stories.c.kept
                )
            ):
                by_relevance["relevant" if relevant else "watched" if kept else "off_topic"] += count
            for relevance, count in by_relevance.items():
                stories.add_metric([relevance], count)
            depth.add_metric(
                [], conn.execute(select(func.count()).where(t.outbox.c.status == PENDING)).scalar() or 0
            )
            states = conn.execute(
                select(t.sources.c.name, t.sources.c.failures).where(
                    t.sources.c.name.in_(self.sources), t.sources.c.last_poll.is_not(None)
                )
            )
            for name, failures in states:
                up.add_metric([name], 0 if failures else 1)
        yield from (articles, stories, depth, up)
