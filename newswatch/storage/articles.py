"""Articles and the stories they form: the scrapers' write side."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, bindparam, delete, func, select, text
from sqlalchemy.exc import IntegrityError

from ..detect.stories import (
    HISTORY_KEYS,
    HORIZON,
    Candidate,
    Event,
    Placement,
    StoryKeys,
    new_story_id,
    place,
)
from ..models import Article, Detection, Tags
from .schema import articles, stories, story_keys, utcnow


@dataclass(frozen=True)
class Saved:
    article_id: int
    story_id: str
    new_story: bool


def known_urls(engine: Engine, urls: Iterable[str]) -> set[str]:
    urls = list(dict.fromkeys(urls))
    found: set[str] = set()
    with engine.connect() as conn:
        for i in range(0, len(urls), 500):
            chunk = urls[i : i + 500]
            found.update(conn.execute(select(articles.c.url).where(articles.c.url.in_(chunk))).scalars())
    return found


_CANDIDATES = (
    select(
        story_keys.c.story_id,
        story_keys.c.key,
        story_keys.c.published,
        articles.c.signature,
        articles.c.relevant,
        articles.c.tags,
        articles.c.places,
        stories.c.published.label("first"),  # read from ix_stories_first alone: a covering index
        stories.c.effective,
        stories.c.parent_id,
        stories.c.change,
    )
    .join(articles, articles.c.id == story_keys.c.article_id)
    .join(stories, stories.c.id == story_keys.c.story_id)
    .where(story_keys.c.published.between(bindparam("since"), bindparam("until")))
    .limit(200)
)
# Built once with bound parameters, so that SQLAlchemy compiles each shape once, not per article.
_JOIN_LOOKUP = _CANDIDATES.where(story_keys.c.key.in_(bindparam("keys", expanding=True))).order_by(
    story_keys.c.published
)
_HISTORY_LOOKUP = _CANDIDATES.where(story_keys.c.key == bindparam("key")).order_by(
    story_keys.c.published.desc()
)


class SqlStoryIndex:
    """The :class:`StoryIndex` of the store: an indexed range query on (key, published), with what
    each candidate's story says so far (its first report, effective date, parent)."""

    def __init__(self, conn: Connection, article_id: int):
        self.conn = conn
        self.article_id = article_id

    def candidates(
        self, keys: Sequence[str], since: datetime, until: datetime, *, latest_first: bool = False
    ) -> list[Candidate]:
        """One indexed range scan for all keys, the earliest first; or, for an event's history over a
        year, one backward scan per key, so that a busy provider's latest stories are never cut off
        by a sort of everything it ever had."""
        span = {"since": since, "until": until}
        if latest_first:
            rows = [
                row
                for key in dict.fromkeys(keys)
                for row in self.conn.execute(_HISTORY_LOOKUP, {**span, "key": key})
            ]
            rows.sort(key=lambda r: r.published, reverse=True)
        else:
            rows = list(self.conn.execute(_JOIN_LOOKUP, {**span, "keys": list(keys)}))
        return [
            Candidate(
                r.story_id,
                r.key,
                r.published,
                r.signature or b"",
                Event.stored(r.tags or {}, r.places or ()) if r.relevant else None,
                r.first,
                r.effective,
                r.parent_id,
                r.change,
            )
            for r in rows
        ]

    def add(self, story_id: str, keys: StoryKeys, published: datetime, placement: Placement) -> None:
        """Only the keys: the story row (with ``placement``'s parent) is written by :func:`save`."""
        self.conn.execute(
            story_keys.insert(),
            [
                {"key": k, "published": published, "story_id": story_id, "article_id": self.article_id}
                for k in keys.keys
            ],
        )


def save(engine: Engine, article: Article, detection: Detection, keys: StoryKeys) -> Saved | None:
    """Store a new article and join or start its story; None when the URL is already stored."""
    now = utcnow()
    published = article.published or now
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7310925)"))  # one story assigner at a time
            if conn.execute(select(articles.c.id).where(articles.c.url == article.url)).first():
                return None
            article_id = conn.execute(
                articles.insert().values(
                    url=article.url,
                    link=article.link or None,
                    source=article.source,
                    title=article.title,
                    summary=article.summary,
                    body=article.body,
                    lang=article.lang,
                    author=article.author,
                    image=article.image,
                    published=article.published,
                    fetched=article.fetched or now,
                    fingerprint=_fingerprint(keys),
                    signature=keys.signature or None,
                    relevant=detection.relevant,
                    score=detection.score,
                    tags=detection.tags.as_dict(),
                    watched=list(detection.watched),
                    places=list(detection.places),
                    effective=detection.effective,
                    page_missing=article.page_missing or None,
                )
            ).inserted_primary_key[0]
            index = SqlStoryIndex(conn, article_id)
            placement = place(index, keys, published)
            story_id = placement.story_id or new_story_id(article.url)
            new_story = _upsert_story(conn, story_id, article, detection, published, now, placement)
            index.add(story_id, keys, published, placement)
            conn.execute(articles.update().where(articles.c.id == article_id).values(story_id=story_id))
            return Saved(article_id, story_id, new_story)
    except IntegrityError:
        if known_urls(engine, [article.url]):
            return None  # another crawler stored the same URL a moment ago
        raise


def _upsert_story(
    conn: Connection,
    story_id: str,
    article: Article,
    detection: Detection,
    published: datetime,
    now: datetime,
    placement: Placement,
) -> bool:
    """Start the story (a status change names its parent; one that tells nothing new is stored as
    already fanned out, so it never alerts) or add the article to it."""
    outlet = {
        "source": article.source,
        "url": article.link or article.url,
        "title": article.title,
        "lang": article.lang,
        "summary": article.summary,
    }
    row = conn.execute(select(stories).where(stories.c.id == story_id)).mappings().first()
    if row is None:
        conn.execute(
            stories.insert().values(
                id=story_id,
                title=article.title,
                url=article.link or article.url,
                source=article.source,
                summary=article.summary,
                lang=article.lang,
                published=published,
                created=now,
                updated=now,
                relevant=detection.relevant,
                kept=detection.kept,
                score=detection.score,
                tags=detection.tags.as_dict(),
                watched=list(detection.watched),
                outlets=[outlet],
                article_count=1,
                effective=detection.effective,
                parent_id=placement.parent_id,
                change=placement.change,
                queued=not placement.alert,
            )
        )
        return True
    tags = Tags.from_dict({k: [*row["tags"].get(k, []), *v] for k, v in detection.tags.as_dict().items()})
    became_kept = detection.kept and not row["kept"]
    conn.execute(
        stories.update()
        .where(stories.c.id == story_id)
        .values(
            published=min(row["published"], published),  # the first report: the join window's start
            updated=now,
            relevant=row["relevant"] or detection.relevant,
            kept=row["kept"] or detection.kept,
            queued=row["queued"] and not became_kept,  # a story that turns on-topic is fanned out again
            score=max(row["score"], detection.score),
            tags=tags.as_dict(),
            watched=sorted({*row["watched"], *detection.watched}),
            outlets=[*row["outlets"], outlet],
            article_count=row["article_count"] + 1,
            effective=row["effective"] or detection.effective,
        )
    )
    return False


def _fingerprint(keys: StoryKeys) -> str:
    return next(k for k in keys.keys if k.startswith("f:"))[2:34]


# --- articles stored from their feed alone, their page failing -----------------------------------------


def pending_pages(engine: Engine, urls: Iterable[str]) -> set[str]:
    """Of ``urls``, the stored articles whose page is still to be read (stored from the feed alone)."""
    urls = list(dict.fromkeys(urls))
    found: set[str] = set()
    with engine.connect() as conn:
        for i in range(0, len(urls), 500):
            query = select(articles.c.url).where(
                articles.c.url.in_(urls[i : i + 500]), articles.c.page_missing.is_(True)
            )
            found.update(conn.execute(query).scalars())
    return found


def fill_in_page(engine: Engine, article: Article, detection: Detection, keys: StoryKeys) -> bool:
    """The page of an article stored from its feed alone was read at last: its text and detection
    replace the feed's, its new story keys are added, and its story takes up what the fuller text
    says (on-topic, tags). False when no such article waits (another crawl filled it in)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7310925)"))  # stories change: as in save()
        row = conn.execute(
            select(articles.c.id, articles.c.story_id, articles.c.published).where(
                articles.c.url == article.url, articles.c.page_missing.is_(True)
            )
        ).first()
        if row is None:
            return False
        conn.execute(
            articles.update()
            .where(articles.c.id == row.id)
            .values(
                title=article.title,
                summary=article.summary,
                body=article.body,
                lang=article.lang,
                author=article.author,
                image=article.image,
                fingerprint=_fingerprint(keys),
                signature=keys.signature or None,
                relevant=detection.relevant,
                score=detection.score,
                tags=detection.tags.as_dict(),
                watched=list(detection.watched),
                places=list(detection.places),
                effective=detection.effective,
                page_missing=None,
            )
        )
        have = set(conn.execute(select(story_keys.c.key).where(story_keys.c.article_id == row.id)).scalars())
        new_keys = replace(keys, keys=tuple(k for k in keys.keys if k not in have))
        if new_keys.keys:
            SqlStoryIndex(conn, row.id).add(
                row.story_id, new_keys, row.published or utcnow(), Placement(row.story_id)
            )
        _take_up_page(conn, row.story_id, article, detection)
    return True


def _take_up_page(conn: Connection, story_id: str, article: Article, detection: Detection) -> None:
    """A story learns what the filled-in page of one of its articles says; a story that turns
    on-topic is fanned out again (as when an on-topic article joins it)."""
    row = conn.execute(select(stories).where(stories.c.id == story_id)).mappings().one()
    shown = article.link or article.url
    outlets = [{**o, "summary": article.summary} if o.get("url") == shown else o for o in row["outlets"]]
    tags = Tags.from_dict({k: [*row["tags"].get(k, []), *v] for k, v in detection.tags.as_dict().items()})
    became_kept = detection.kept and not row["kept"]
    conn.execute(
        stories.update()
        .where(stories.c.id == story_id)
        .values(
            updated=utcnow(),
            summary=article.summary if row["url"] == shown else row["summary"],
            outlets=outlets,
            relevant=row["relevant"] or detection.relevant,
            kept=row["kept"] or detection.kept,
            queued=row["queued"] and not became_kept,
            score=max(row["score"], detection.score),
            tags=tags.as_dict(),
            watched=sorted({*row["watched"], *detection.watched}),
            effective=row["effective"] or detection.effective,
        )
    )


JOIN_KEY_RETENTION = timedelta(days=30)  # join keys are looked up within a week of an article


def prune_keys(engine: Engine, now: datetime) -> None:
    """Drop lookup keys that can no longer matter: join keys after ``JOIN_KEY_RETENTION``, the
    event and provider keys an event's history is read from after ``HORIZON`` (a lift months on
    must still find the restriction)."""
    with engine.begin() as conn:
        conn.execute(delete(story_keys).where(story_keys.c.published < now - HORIZON))
        conn.execute(
            delete(story_keys).where(
                story_keys.c.published < now - JOIN_KEY_RETENTION,
                *(story_keys.c.key.not_like(f"{prefix}%") for prefix in HISTORY_KEYS),
            )
        )


def count_by_source(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(articles.c.source, func.count()).group_by(articles.c.source))
        return {source: n for source, n in rows}
