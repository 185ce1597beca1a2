"""Articles and the stories they form: the scrapers' write side."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

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
from .inlists import chunks, padded
from .schema import articles, stories, story_keys, utcnow


@dataclass(frozen=True)
class Saved:
    article_id: int
    story_id: str
    new_story: bool


def known_urls(engine: Engine, urls: Iterable[str]) -> set[str]:
    with engine.connect() as conn:
        return _known(conn, urls)


def _known(conn: Connection, urls: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(urls):
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
            rows = list(self.conn.execute(_JOIN_LOOKUP, {**span, "keys": padded(keys)}))
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


@dataclass(frozen=True)
class NewArticle:
    """An article to store, with what detection made of it."""

    article: Article
    detection: Detection
    keys: StoryKeys


@dataclass
class _StoryState:
    """What story lookup reads of a story that this batch started or joined, as it stands now."""

    first: datetime
    effective: date | None
    parent_id: str | None
    change: str | None


class _BatchIndex:
    """The :class:`StoryIndex` of one batch: the store's stories, and the articles placed earlier in
    the batch (not written yet: they are written together at its end). A stored story that the batch
    joined is seen as it will be once written (its first report, its effective date).

    Which of the batch's keys the store holds at all is asked once, for the whole batch: most
    articles share no key with anything stored, and then ask the store nothing more."""

    def __init__(self, conn: Connection, keys: Iterable[str]):
        self.stored = SqlStoryIndex(conn, 0)  # lookups only: the batch writes its keys at its end
        asked = list(dict.fromkeys(keys))
        held: set[str] = set()
        for chunk in chunks(asked):
            query = select(story_keys.c.key).distinct().where(story_keys.c.key.in_(chunk))
            held.update(conn.execute(query).scalars())
        self.absent = set(asked) - held  # keys no stored article has
        self.stories: dict[str, _StoryState] = {}  # stories the batch started or joined
        self.seen: dict[str, _StoryState] = {}  # stored stories as lookups found them
        self._by_key: dict[str, list[tuple[str, datetime, bytes, Event | None]]] = {}

    def candidates(
        self, keys: Sequence[str], since: datetime, until: datetime, *, latest_first: bool = False
    ) -> list[Candidate]:
        found = []
        stored = [k for k in keys if k not in self.absent]
        for c in self.stored.candidates(stored, since, until, latest_first=latest_first) if stored else ():
            self.seen.setdefault(c.story_id, _StoryState(c.first, c.effective, c.parent_id, c.change))
            if (now := self.stories.get(c.story_id)) is not None:
                c = replace(c, first=now.first, effective=now.effective)
            found.append(c)
        if self._by_key:
            for key in dict.fromkeys(keys):
                for story_id, when, signature, event in self._by_key.get(key, ()):
                    if since <= when <= until:
                        s = self.stories[story_id]
                        found.append(
                            Candidate(
                                story_id,
                                key,
                                when,
                                signature,
                                event,
                                s.first,
                                s.effective,
                                s.parent_id,
                                s.change,
                            )
                        )
            found.sort(key=lambda c: c.published, reverse=latest_first)
        return found

    def add(self, story_id: str, keys: StoryKeys, published: datetime, placement: Placement) -> None:
        for key in keys.keys:
            self._by_key.setdefault(key, []).append((story_id, published, keys.signature, keys.event))

    def join(self, story_id: str, published: datetime, effective: date | None, placement: Placement) -> None:
        """The story an article was placed in, as lookups see it from now on (as the row will be)."""
        state = self.stories.get(story_id)
        if state is None:
            before = self.seen.get(story_id)
            if before is None:  # a new story
                self.stories[story_id] = _StoryState(
                    published, effective, placement.parent_id, placement.change
                )
                return
            state = self.stories[story_id] = replace(before)
        state.first = min(state.first, published)
        state.effective = state.effective or effective


def save(engine: Engine, article: Article, detection: Detection, keys: StoryKeys) -> Saved | None:
    """Store a new article and join or start its story; None when the URL is already stored."""
    result = save_many(engine, [NewArticle(article, detection, keys)])[0]
    if isinstance(result, Exception):
        raise result
    return result


def save_many(engine: Engine, batch: Sequence[NewArticle]) -> list[Saved | Exception | None]:
    """Store new articles, in order, each joining or starting its story, in one transaction with a
    few statements (executemany for the articles, their story keys and their stories): for each, its
    :class:`Saved`, None when its URL is already stored, or the exception that kept it out.

    A batch that fails is stored again one article at a time, so that one bad article (a value the
    database refuses, a URL another crawler stored a moment ago) costs only itself."""
    if not batch:
        return []
    try:
        with engine.begin() as conn:
            return _store(conn, batch)
    except Exception as exc:
        if len(batch) > 1:
            return [result for one in batch for result in save_many(engine, [one])]
        if isinstance(exc, IntegrityError) and known_urls(engine, [batch[0].article.url]):
            return [None]  # another crawler stored the same URL a moment ago
        return [exc]


_STORY_UPDATE = stories.update().where(stories.c.id == bindparam("_id"))


def _store(conn: Connection, batch: Sequence[NewArticle]) -> list[Saved | None]:
    now = utcnow()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7310925)"))  # one story assigner at a time
    known = _known(conn, [n.article.url for n in batch])
    index = _BatchIndex(conn, (k for new in batch if new.article.url not in known for k in new.keys.keys))
    placed: list[tuple[NewArticle, datetime, str, Placement] | None] = []
    for new in batch:
        if new.article.url in known:
            placed.append(None)
            continue
        known.add(new.article.url)
        published = new.article.published or now
        placement = place(index, new.keys, published)
        story_id = placement.story_id or new_story_id(new.article.url)
        index.join(story_id, published, new.detection.effective, placement)
        index.add(story_id, new.keys, published, placement)
        placed.append((new, published, story_id, placement))
    todo = [p for p in placed if p is not None]
    if not todo:
        return [None] * len(batch)
    started = _write_stories(conn, todo, now)
    rows = [_article_row(new, story_id, now) for new, _published, story_id, _placement in todo]
    # a plain executemany, then the ids by URL: INSERT ... RETURNING of n rows is one statement with
    # n VALUES groups, another text (and prepared statement) for every batch size
    conn.execute(articles.insert(), rows)
    stored_ids: dict[str, int] = {}
    for chunk in chunks(row["url"] for row in rows):
        query = select(articles.c.url, articles.c.id).where(articles.c.url.in_(chunk))
        stored_ids.update((url, id_) for url, id_ in conn.execute(query))
    article_ids = [stored_ids[row["url"]] for row in rows]
    conn.execute(
        story_keys.insert(),
        [
            {"key": k, "published": published, "story_id": story_id, "article_id": article_id}
            for (new, published, story_id, _), article_id in zip(todo, article_ids, strict=True)
            for k in new.keys.keys
        ],
    )
    saved = iter(
        Saved(article_id, story_id, new_story)
        for (_, _, story_id, _), article_id, new_story in zip(todo, article_ids, started, strict=True)
    )
    return [None if p is None else next(saved) for p in placed]


def _article_row(new: NewArticle, story_id: str, now: datetime) -> dict[str, Any]:
    article, detection, keys = new.article, new.detection, new.keys
    return {
        "url": article.url,
        "link": article.link or None,
        "source": article.source,
        "title": article.title,
        "summary": article.summary,
        "body": article.body,
        "lang": article.lang,
        "author": article.author,
        "image": article.image,
        "published": article.published,
        "fetched": article.fetched or now,
        "fingerprint": _fingerprint(keys),
        "signature": keys.signature or None,
        "relevant": detection.relevant,
        "score": detection.score,
        "tags": detection.tags.as_dict(),
        "watched": list(detection.watched),
        "places": list(detection.places),
        "effective": detection.effective,
        "story_id": story_id,
        "page_missing": article.page_missing or None,
    }


def _write_stories(
    conn: Connection, todo: Sequence[tuple[NewArticle, datetime, str, Placement]], now: datetime
) -> list[bool]:
    """Start each new story (a status change names its parent; one that tells nothing new is stored
    as already fanned out, so it never alerts) or add the articles to it: one row written per story,
    whatever the number of the batch's articles in it. For each article: did it start its story."""
    ids = list(dict.fromkeys(story_id for _, _, story_id, _ in todo))
    rows: dict[str, dict[str, Any]] = {}
    for chunk in chunks(ids):
        query = select(stories).where(stories.c.id.in_(chunk))
        rows.update((r["id"], dict(r)) for r in conn.execute(query).mappings())
    stored = set(rows)
    started = []
    for new, published, story_id, placement in todo:
        row = rows.get(story_id)
        started.append(row is None)
        if row is None:
            rows[story_id] = _story_row(story_id, new, published, now, placement)
        else:
            _join_story(row, new, published, now)
    inserts = [row for story_id, row in rows.items() if story_id not in stored]
    if inserts:
        conn.execute(stories.insert(), inserts)
    updates = [
        {"_id": story_id, **{k: row[k] for k in _JOINED}}
        for story_id, row in rows.items()
        if story_id in stored
    ]
    if updates:
        conn.execute(_STORY_UPDATE, updates)
    return started


# what an article joining a story changes of it
_JOINED = ("published", "updated", "relevant", "kept", "queued", "score", "tags", "watched", "outlets")
_JOINED += ("article_count", "effective")


def _outlet(article: Article) -> dict[str, str]:
    return {
        "source": article.source,
        "url": article.link or article.url,
        "title": article.title,
        "lang": article.lang,
        "summary": article.summary,
    }


def _story_row(
    story_id: str, new: NewArticle, published: datetime, now: datetime, placement: Placement
) -> dict[str, Any]:
    article, detection = new.article, new.detection
    return {
        "id": story_id,
        "title": article.title,
        "url": article.link or article.url,
        "source": article.source,
        "summary": article.summary,
        "lang": article.lang,
        "published": published,
        "created": now,
        "updated": now,
        "relevant": detection.relevant,
        "kept": detection.kept,
        "score": detection.score,
        "tags": detection.tags.as_dict(),
        "watched": list(detection.watched),
        "outlets": [_outlet(article)],
        "article_count": 1,
        "effective": detection.effective,
        "parent_id": placement.parent_id,
        "change": placement.change,
        "queued": not placement.alert,
    }


def _join_story(row: dict[str, Any], new: NewArticle, published: datetime, now: datetime) -> None:
    """``row`` (a story's, as it will be written) with the article added."""
    detection = new.detection
    tags = Tags.from_dict({k: [*row["tags"].get(k, []), *v] for k, v in detection.tags.as_dict().items()})
    became_kept = detection.kept and not row["kept"]
    row.update(
        published=min(row["published"], published),  # the first report: the join window's start
        updated=now,
        relevant=row["relevant"] or detection.relevant,
        kept=row["kept"] or detection.kept,
        queued=row["queued"] and not became_kept,  # a story that turns on-topic is fanned out again
        score=max(row["score"], detection.score),
        tags=tags.as_dict(),
        watched=sorted({*row["watched"], *detection.watched}),
        outlets=[*row["outlets"], _outlet(new.article)],
        article_count=row["article_count"] + 1,
        effective=row["effective"] or detection.effective,
    )


def _fingerprint(keys: StoryKeys) -> str:
    return next(k for k in keys.keys if k.startswith("f:"))[2:34]


# --- articles stored from their feed alone, their page failing -----------------------------------------


def pending_pages(engine: Engine, urls: Iterable[str]) -> set[str]:
    """Of ``urls``, the stored articles whose page is still to be read (stored from the feed alone)."""
    found: set[str] = set()
    with engine.connect() as conn:
        for chunk in chunks(urls):
            query = select(articles.c.url).where(articles.c.url.in_(chunk), articles.c.page_missing.is_(True))
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
