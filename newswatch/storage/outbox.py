"""The durable outbox: one row per (subscriber, story), the unit of exactly-once delivery.

A row is inserted before anything is sent and marked sent right after Telegram answers, so a crash
between the two re-sends at most the messages that were in flight: at most one per chat.

A row held for a digest (quiet hours, a daily digest) waits, pending, until its ``next_attempt``.
Then it is composed into a digest message, a ``digest_parts`` row with its text fixed, in the same
transaction that points the held rows at it; the message is sent like an alert and its rows are
marked sent together, with its message id, right after Telegram answers. So a digest is exactly
once in the same way: a crash re-sends at most the message in flight, and a long digest's parts
already recorded are never sent again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite

from .inlists import padded
from .schema import digest_parts, outbox, stories, subscribers, utcnow

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

    @property
    def key(self) -> tuple[str, int]:
        return ("alert", self.id)

    @property
    def what(self) -> str:
        return f"the alert for story {self.story_id}"


@dataclass(frozen=True)
class DigestPart:
    """One message of a digest, due: its text and the chat it goes to."""

    id: int
    subscriber_id: int
    chat_id: int
    chat_kind: str
    attempts: int
    text: str

    @property
    def key(self) -> tuple[str, int]:
        return ("digest", self.id)

    @property
    def what(self) -> str:
        return f"digest message {self.id}"


Unit = Delivery | DigestPart  # what one send delivers


def _insert_ignore(engine: Engine):
    module = postgresql if engine.dialect.name == "postgresql" else sqlite
    return module.insert(outbox)


def enqueue(
    engine: Engine,
    story_id: str,
    subscriber_ids: Iterable[int],
    *,
    now: datetime | None = None,
    held_until: Mapping[int, datetime] | None = None,
) -> int:
    """Queue a story for subscribers, due ``now``, or held for a digest until ``held_until[id]``;
    rows that exist already are left alone (idempotent)."""
    now = now or utcnow()
    held_until = held_until or {}
    rows = [
        {
            "subscriber_id": sid,
            "story_id": story_id,
            "status": PENDING,
            "attempts": 0,
            "next_attempt": held_until.get(sid, now),
            "held": sid in held_until,
        }
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
    """Pending alerts whose time has come (not the rows held for a digest)."""
    query = select(*_COLUMNS).where(
        outbox.c.status == PENDING, outbox.c.next_attempt <= now, outbox.c.held.is_not(True)
    )
    return _deliveries(engine, query, limit, console)


def _held(subscriber_id: int | None = None):
    """Held rows not yet in a digest message (of one subscriber)."""
    held = and_(outbox.c.status == PENDING, outbox.c.held.is_(True), outbox.c.part_id.is_(None))
    return held if subscriber_id is None else and_(held, outbox.c.subscriber_id == subscriber_id)


def held_due(
    engine: Engine, now: datetime, *, console: bool = False, chats: int = 100, per_chat: int = 500
) -> list[list[Delivery]]:
    """Held rows whose time has come, one list per subscriber (oldest first): each list makes one
    digest. ``chats`` subscribers at a time, up to ``per_chat`` rows each (more make another digest)."""
    ready = and_(_held(), outbox.c.next_attempt <= now)
    waiting = (
        select(outbox.c.subscriber_id)
        .join(subscribers, subscribers.c.id == outbox.c.subscriber_id)
        .where(ready, subscribers.c.active.is_(True), _audience(console))
        .distinct()
        .order_by(outbox.c.subscriber_id)
        .limit(chats)
    )
    with engine.connect() as conn:
        chosen = list(conn.execute(waiting).scalars())
    query = select(*_COLUMNS).where(ready, outbox.c.subscriber_id.in_(padded(chosen)))
    rows = _deliveries(engine, query, chats * per_chat, console)
    by_chat: dict[int, list[Delivery]] = {}
    for row in rows:
        by_chat.setdefault(row.subscriber_id, []).append(row)
    return [found[:per_chat] for found in by_chat.values()]


def reschedule_held(engine: Engine, subscriber_id: int, when: datetime) -> int:
    """The subscriber's schedule changed: what is held (and not yet composed) is released at ``when``
    instead; returns how many rows."""
    with engine.begin() as conn:
        return conn.execute(outbox.update().where(_held(subscriber_id)).values(next_attempt=when)).rowcount


def compose(engine: Engine, subscriber_id: int, parts: Sequence[tuple[str, Sequence[int]]]) -> list[int]:
    """Fix a digest: one message per (text, the held row ids it shows), in one transaction, so that a
    crash leaves the rows either all held or all in their messages."""
    now = utcnow()
    ids = []
    with engine.begin() as conn:
        for text, row_ids in parts:
            part_id = conn.execute(
                digest_parts.insert().values(subscriber_id=subscriber_id, text=text, created=now)
            ).inserted_primary_key[0]
            shown = and_(_held(subscriber_id), outbox.c.id.in_(padded(row_ids)))
            conn.execute(outbox.update().where(shown).values(part_id=part_id))
            ids.append(part_id)
    return ids


def due_parts(engine: Engine, now: datetime, limit: int = 500, *, console: bool = False) -> list[DigestPart]:
    """Digest messages whose time has come, each chat's in order: a message waits while an earlier
    one of the same chat is still pending (say, retried after a 5xx)."""
    carried = (
        select(
            outbox.c.part_id,
            func.max(outbox.c.attempts).label("attempts"),
            func.max(outbox.c.next_attempt).label("next_attempt"),
        )
        .where(outbox.c.status == PENDING, outbox.c.part_id.is_not(None))
        .group_by(outbox.c.part_id)
        .subquery()
    )
    earlier = outbox.alias("earlier")
    query = (
        select(
            digest_parts.c.id,
            digest_parts.c.subscriber_id,
            subscribers.c.chat_id,
            subscribers.c.kind.label("chat_kind"),
            carried.c.attempts,
            digest_parts.c.text,
        )
        .join(carried, carried.c.part_id == digest_parts.c.id)
        .join(subscribers, subscribers.c.id == digest_parts.c.subscriber_id)
        .where(
            carried.c.next_attempt <= now,
            subscribers.c.active.is_(True),
            _audience(console),
            ~exists().where(
                earlier.c.subscriber_id == digest_parts.c.subscriber_id,
                earlier.c.status == PENDING,
                earlier.c.part_id < digest_parts.c.id,
            ),
        )
        .order_by(digest_parts.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [DigestPart(**r._mapping) for r in conn.execute(query)]


def needing_edit(engine: Engine, limit: int = 200, *, console: bool = False) -> list[Delivery]:
    """Sent alerts whose story has been reported by more outlets since."""
    query = (
        select(*_COLUMNS)
        .join(stories, stories.c.id == outbox.c.story_id)
        .where(
            outbox.c.status == SENT,
            outbox.c.message_id.is_not(None),
            outbox.c.rendered_count < stories.c.article_count,
            outbox.c.part_id.is_(None),  # a digest is not edited: it names no outlets
        )
    )
    return _deliveries(engine, query, limit, console)


def _update(engine: Engine, unit: Unit, **values) -> None:
    """One alert's row, or every row a digest message carries: they change together."""
    where = outbox.c.part_id == unit.id if isinstance(unit, DigestPart) else outbox.c.id == unit.id
    with engine.begin() as conn:
        conn.execute(outbox.update().where(where).values(**values))


def mark_sent(
    engine: Engine, unit: Unit, message_id: int | None, rendered_count: int = 0, lead: str | None = None
) -> None:
    """Sent: an alert keeps the outlets it showed and the report it led with (edits keep both)."""
    shown = {} if isinstance(unit, DigestPart) else {"rendered_count": rendered_count, "lead": lead}
    _update(engine, unit, status=SENT, message_id=message_id, sent_at=utcnow(), last_error=None, **shown)


def mark_rendered(engine: Engine, row: Delivery, rendered_count: int) -> None:
    _update(engine, row, rendered_count=rendered_count)


def retry_later(engine: Engine, unit: Unit, attempts: int, when: datetime, error: str) -> None:
    _update(engine, unit, attempts=attempts, next_attempt=when, last_error=error[:500])


def drop(engine: Engine, unit: Unit, error: str) -> None:
    """Give up on one delivery (Telegram refused the message itself); kept for /status."""
    _update(engine, unit, status=DROPPED, last_error=error[:500])


def drop_for_subscriber(engine: Engine, subscriber_id: int, reason: str) -> int:
    """Everything still pending for the subscriber, held rows and digest messages included; returns
    how many rows were dropped."""
    with engine.begin() as conn:
        return conn.execute(
            outbox.update()
            .where(and_(outbox.c.subscriber_id == subscriber_id, outbox.c.status == PENDING))
            .values(status=DROPPED, last_error=reason[:500])
        ).rowcount


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
