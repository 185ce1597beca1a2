"""What the web side shows, read from the store: plain data for the templates, JSON and the feed.

Every function here is synchronous and does its own store reads; the routes run them in a thread
(``asyncio.to_thread``) so a slow query never stalls the bot on the event loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine

from bot.delivery import ALERTS_SINCE

from .. import tracker
from ..config import Config
from ..storage import sources as source_store
from ..storage import stories as story_store
from ..storage.stories import Story
from .cache import RecordsCache
from .chart import timeline
from .matrix import build_matrix, chart_rows, record_label

PAGE_SIZE = 100  # /api/stories.json answers at most this many stories per request
LATEST_SHOWN = 10
_cache = RecordsCache()


def alerts_since(engine: Engine) -> datetime | None:
    """When alerts started (the end of the first round of polls); None before."""
    value = story_store.get_meta(engine, ALERTS_SINCE)
    return datetime.fromisoformat(value) if value else None


def alerted(
    engine: Engine, config: Config, *, after: datetime | None = None, oldest_first: bool = False, limit: int
) -> tuple[list[Story], datetime | None]:
    """Stories that were alerted (on-topic, fanned out, news when first seen) created after
    ``after``, and the cursor to ask for the next page with (None on the last page)."""
    since = alerts_since(engine)
    if since is None:
        return [], None
    rows = story_store.alerted(engine, since, after=after, oldest_first=oldest_first, limit=limit)
    cursor = rows[-1].created if len(rows) == limit else None  # from the rows read, kept or not
    return [s for s in rows if s.fresh(config.alerts.max_age)], cursor


def story_json(story: Story) -> dict[str, Any]:
    return {
        "id": story.id,
        "title": story.title,
        "url": story.url,
        "source": story.source,
        "lang": story.lang,
        "summary": story.summary,
        "published": story.published.isoformat(),
        "first_seen": story.created.isoformat(),
        "effective": story.effective.isoformat() if story.effective else None,
        "tags": story.tags.as_dict(),
        "outlets": [
            {"source": o.get("source", ""), "url": o.get("url", ""), "title": o.get("title", "")}
            for o in story.outlets
        ],
        "parent": story.parent_id,
        "change": story.change,
    }


@dataclass(frozen=True)
class SourceRow:
    name: str
    kind: str
    up: bool | None  # None: never polled
    status: str
    last_success: datetime | None
    last_error: str | None


def source_health(engine: Engine, config: Config) -> list[SourceRow]:
    """Each enabled source's last poll, as ``newswatch sources`` shows it."""
    states = source_store.all_states(engine)
    rows = []
    for source in config.sources:
        if not source.enabled:
            continue
        state = states.get(source.name) or source_store.SourceState(source.name)
        up = None if state.last_poll is None else state.failures == 0
        rows.append(
            SourceRow(source.name, source.kind, up, state.status, state.last_success, state.last_error)
        )
    return rows


def _narrow(
    found: list[tracker.Record], config: Config, provider: str | None, region: str | None
) -> list[tracker.Record]:
    """The records of a provider and a region when asked (names or codes the vocabulary knows;
    ``tracker.UnknownName`` otherwise)."""
    if not (provider or region):
        return found
    return tracker.select(found, provider or None, region or None, tracker.vocabulary_for(config))


def dump(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def tracker_json(
    engine: Engine, config: Config, provider: str | None = None, region: str | None = None
) -> bytes:
    """``/api/tracker.json``, serialized (reused while the records are unchanged)."""
    everything = tracker.current(engine, config)

    def compute() -> bytes:
        found = _narrow(everything, config, provider, region)
        return dump({"records": [r.as_dict() for r in found]})

    return _cache.get(everything, ("json", provider, region), compute)


def tracker_page(
    engine: Engine, config: Config, provider: str | None = None, region: str | None = None
) -> dict[str, Any]:
    """Everything the page shows: the whole matrix, the timeline (of one cell when asked), the
    latest alerts and each source's health. The matrix and the chart are reused while the records
    are unchanged (the chart for a minute at most: its bars run to now)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    everything = tracker.current(engine, config)
    shown = _narrow(everything, config, provider, region)
    name = partial(tracker.label, vocabulary=tracker.vocabulary_for(config))
    latest, _ = alerted(engine, config, limit=LATEST_SHOWN)
    return {
        "now": now,
        "matrix": _cache.get(everything, "matrix", lambda: build_matrix(everything)),
        "chart": _cache.get(
            everything, ("chart", provider, region, now), lambda: timeline(chart_rows(shown, name), now)
        ),
        "records": shown,
        "provider": provider,
        "region": region,
        "alerts": latest,
        "sources": source_health(engine, config),
        "label": name,
        "record_label": partial(record_label, name=name),
    }
