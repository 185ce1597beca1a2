"""Stories as the bot reads them: what is new to fan out, and the latest for /latest."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, select

from ..models import Tags
from .inlists import listed, padded
from .schema import meta, stories


@dataclass(frozen=True)
class Story:
    id: str
    title: str
    url: str
    source: str
    summary: str
    lang: str
    published: datetime
    created: datetime
    relevant: bool
    score: float
    tags: Tags
    watched: tuple[str, ...]
    outlets: tuple[dict, ...]  # {"source", "url", "title", "lang", "summary"}; older rows lack the last two
    effective: date | None = None
    parent_id: str | None = None  # the earlier story whose status this one changes
    change: str | None = None  # None (a new event) | "effective" | "lifted" | "extended"

    @property
    def alertable(self) -> bool:
        return self.relevant or bool(self.watched)

    def fresh(self, max_age: float) -> bool:
        """First seen within ``max_age`` seconds of publication: news, not a late find of old news."""
        return self.created - self.published <= timedelta(seconds=max_age)


def _story(r) -> Story:
    return Story(
        id=r.id,
        title=r.title,
        url=r.url,
        source=r.source,
        summary=r.summary,
        lang=r.lang,
        published=r.published,
        created=r.created,
        relevant=r.relevant,
        score=r.score,
        tags=Tags.from_dict(r.tags),
        watched=tuple(r.watched),
        outlets=tuple(r.outlets),
        effective=r.effective,
        parent_id=r.parent_id,
        change=r.change,
    )


def get(engine: Engine, story_id: str) -> Story | None:
    with engine.connect() as conn:
        row = conn.execute(select(stories).where(stories.c.id == story_id)).first()
    return _story(row) if row else None


def unqueued(engine: Engine, limit: int = 200, hold: Collection[str] = ()) -> list[Story]:
    """Stories not yet fanned out to the outbox, oldest first; those first reported by a source in
    ``hold`` wait (their source's first poll is still running)."""
    query = select(stories).where(stories.c.queued.is_(False))
    if hold:
        query = query.where(stories.c.source.not_in(listed(hold, engine.dialect.name)))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(stories.c.created).limit(limit))
        return [_story(r) for r in rows]


def mark_history(engine: Engine, source: str) -> int:
    """A new source's first poll is its backlog, not news: its stories are never alerted."""
    with engine.begin() as conn:
        return conn.execute(
            stories.update()
            .where(stories.c.queued.is_(False), stories.c.source == source)
            .values(queued=True)
        ).rowcount


def mark_queued(engine: Engine, story_ids: list[str]) -> None:
    if story_ids:
        with engine.begin() as conn:
            conn.execute(stories.update().where(stories.c.id.in_(padded(story_ids))).values(queued=True))


def latest_alertable(engine: Engine, limit: int = 200) -> list[Story]:
    """The most recent on-topic or watched stories, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(stories).where(stories.c.kept.is_(True)).order_by(stories.c.created.desc()).limit(limit)
        )
        return [_story(r) for r in rows]


def alerted(
    engine: Engine,
    alerts_since: datetime,
    *,
    after: datetime | None = None,
    oldest_first: bool = False,
    limit: int = 50,
) -> list[Story]:
    """On-topic stories fanned out since alerts started (``alerts_since``), created after ``after``:
    what was alerted, for the web side. Watched-only stories are left out: they went to the few
    subscribers whose keyword matched, not to everybody."""
    query = select(stories).where(
        stories.c.relevant.is_(True),
        stories.c.queued.is_(True),
        stories.c.created >= alerts_since,
    )
    if after is not None:
        query = query.where(stories.c.created > after)
    order = stories.c.created if oldest_first else stories.c.created.desc()
    with engine.connect() as conn:
        return [_story(r) for r in conn.execute(query.order_by(order, stories.c.id).limit(limit))]


def get_meta(engine: Engine, key: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()


def set_meta(engine: Engine, key: str, value: str) -> None:
    with engine.begin() as conn:
        if conn.execute(meta.update().where(meta.c.key == key).values(value=value)).rowcount == 0:
            conn.execute(meta.insert().values(key=key, value=value))
