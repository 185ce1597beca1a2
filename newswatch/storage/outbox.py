"""The durable outbox: one row per (subscriber, story), the unit of exactly-once delivery.

A row is inserted before anything is sent and marked sent right after Telegram answers, so a crash
between the two re-sends at most the messages that were in flight: at most one per chat.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite

from .schema import outbox, stories, subscribers, utcnow

PENDING, SENT, DROPPED = "pending", "sent", "dropped"


@dataclass(frozen=True)
class Delivery:
    id: int
    subscriber_id: int
    chat_id: int
    chat_kind: str
    story_id: str
    attempts: int
    message_id: int | None = None
    rendered_count: int = 0
    lang: str | None = None  # the subscriber's
    lead: str | None = None  # the link of the outlet the sent alert led with


def _insert_ignore(engine: Engine):
    module = postgresql if engine.dialect.name == "postgresql" else sqlite
    return module.insert(outbox)


def enqueue(engine: Engine, story_id: str, subscriber_ids: Iterable[int]) -> int:
    """Queue a story for subscribers; rows that exist already are left alone (idempotent)."""
    now = utcnow()
    rows = [
        {"subscriber_id": sid, "story_id": story_id, "status": PENDING, "attempts": 0, "next_attempt": now}
        for sid in subscriber_ids
    ]
    if not rows:
        return 0
    with engine.begin() as conn:
        # RETURNING counts what was inserted: an executemany's rowcount is -1 with psycopg
        inserted = conn.execute(_insert_ignore(engine).on_conflict_do_nothing().returning(outbox.c.id), rows)
        return len(inserted.all())


_COLUMNS = (
    outbox.c.id,
    outbox.c.subscriber_id,
    subscribers.c.chat_id,
    subscribers.c.kind.label("chat_kind"),
    outbox.c.story_id,
    outbox.c.attempts,
    outbox.c.message_id,
    outbox.c.rendered_count,
    subscribers.c.lang,
    outbox.c.lead,
)


CONSOLE_KIND = "console"


def _audience(console: bool):
    """The console subscriber's rows (no bot token) or the Telegram chats' rows."""
    return subscribers.c.kind == CONSOLE_KIND if console else subscribers.c.kind != CONSOLE_KIND


def _deliveries(engine: Engine, query, limit: int, console: bool) -> list[Delivery]:
    """Rows of active subscribers of one audience, oldest first."""
    query = (
        query.join(subscribers, subscribers.c.id == outbox.c.subscriber_id)
        .where(subscribers.c.active.is_(True), _audience(console))
        .order_by(outbox.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [Delivery(**r._mapping) for r in conn.execute(query)]


def due(engine: Engine, now: datetime, limit: int = 500, *, console: bool = False) -> list[Delivery]:
    """Pending deliveries whose time has come."""
    query = select(*_COLUMNS).where(outbox.c.status == PENDING, outbox.c.next_attempt <= now)
    return _deliveries(engine, query, limit, console)


def needing_edit(engine: Engine, limit: int = 200, *, console: bool = False) -> list[Delivery]:
    """Sent alerts whose story has been reported by more outlets since."""
    query = (
        select(*_COLUMNS)
        .join(stories, stories.c.id == outbox.c.story_id)
        .where(
            outbox.c.status == SENT,
            outbox.c.message_id.is_not(None),
            outbox.c.rendered_count < stories.c.article_count,
        )
    )
    return _deliveries(engine, query, limit, console)


def _update(engine: Engine, delivery_id: int, **values) -> None:
    with engine.begin() as conn:
        conn.execute(outbox.update().where(outbox.c.id == delivery_id).values(**values))


def mark_sent(
    engine: Engine, delivery_id: int, message_id: int | None, rendered_count: int, lead: str | None = None
) -> None:
    _update(
        engine,
        delivery_id,
        status=SENT,
        message_id=message_id,
        sent_at=utcnow(),
        rendered_count=rendered_count,
        lead=lead,
        last_error=None,
    )


def mark_rendered(engine: Engine, delivery_id: int, rendered_count: int) -> None:
    _update(engine, delivery_id, rendered_count=rendered_count)


def retry_later(engine: Engine, delivery_id: int, attempts: int, when: datetime, error: str) -> None:
    _update(engine, delivery_id, attempts=attempts, next_attempt=when, last_error=error[:500])


def drop(engine: Engine, delivery_id: int, error: str) -> None:
    """Give up on one delivery (Telegram refused the message itself); kept for /status."""
    _update(engine, delivery_id, status=DROPPED, last_error=error[:500])


def drop_for_subscriber(engine: Engine, subscriber_id: int, reason: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            outbox.update()
            .where(and_(outbox.c.subscriber_id == subscriber_id, outbox.c.status == PENDING))
            .values(status=DROPPED, last_error=reason[:500])
        )


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all())


def recent_errors(engine: Engine, limit: int = 5) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.last_error)
            .where(outbox.c.last_error.is_not(None))
            .order_by(outbox.c.id.desc())
            .limit(limit)
        )
        return [r[0] for r in rows]
