"""The demo's script: its sources, the history already on the site, and the steps it publishes.

Why a data file (``news.toml``, shipped in the package): the texts and what the pipeline must make of
them are content, not code; they can be read, and reworded, without touching the code that plays
them. This module reads the file and puts its articles on a :class:`~newswatch.demo.site.NewsSite`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources

from .site import Article, NewsSite

EXPECTATIONS = ("alert", "edit", "silent", "lift")
ITHOME_FIRST_ID = 1  # /0/000/001.htm: an ITHome-shaped link that names no real ITHome article


@dataclass(frozen=True)
class Source:
    """One source of the demo's config: the site's ITHome-shaped RSS, or one of its feeds."""

    name: str
    kind: str
    lang: str
    feed: str | None = None  # the feed's name on the site; None: the ITHome-shaped RSS

    def url(self, site: NewsSite) -> str:
        return f"{site.base_url}/feeds/{self.feed}.xml" if self.feed else f"{site.base_url}/rss/"


@dataclass(frozen=True)
class Item:
    """An article the demo puts on the site."""

    source: str
    title: str
    paragraphs: tuple[str, ...]
    days_ago: float = 0.0


@dataclass(frozen=True)
class Step(Item):
    """An article published while the service runs, and what must come of it."""

    expect: str = "alert"
    caption: str = ""


@dataclass(frozen=True)
class Script:
    sources: tuple[Source, ...]
    history: tuple[Item, ...]
    steps: tuple[Step, ...]

    def source(self, name: str) -> Source:
        return next(s for s in self.sources if s.name == name)


def load(text: str | None = None) -> Script:
    """The script from ``text`` (TOML), by default the packaged ``news.toml``; ValueError when it is
    inconsistent (an unknown source or expectation, an edit with no alert before it)."""
    if text is None:
        text = resources.files(__package__).joinpath("news.toml").read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    sources = tuple(Source(**entry) for entry in raw.get("sources", ()))
    names = {s.name for s in sources}
    history = tuple(_item(Item, entry, names) for entry in raw.get("history", ()))
    steps = tuple(_item(Step, entry, names) for entry in raw.get("steps", ()))
    for index, step in enumerate(steps):
        if step.expect not in EXPECTATIONS:
            known = ", ".join(EXPECTATIONS)
            raise ValueError(f"steps[{index}].expect: {step.expect!r} is not one of {known}")
        if step.expect == "edit" and not any(s.expect in ("alert", "lift") for s in steps[:index]):
            raise ValueError(f"steps[{index}]: an edit needs an alert before it")
    return Script(sources, history, steps)


def _item(kind: type[Item], entry: dict, names: set[str]) -> Item:
    if entry.get("source") not in names:
        raise ValueError(f"{entry.get('title')!r}: unknown source {entry.get('source')!r}")
    return kind(**{**entry, "paragraphs": tuple(entry["paragraphs"])})


class Stage:
    """The script's sources on a site: creates their feeds, then publishes items on them."""

    def __init__(self, site: NewsSite, script: Script):
        self.site = site
        self.script = script
        self._next_news_id = ITHOME_FIRST_ID
        for source in script.sources:
            if source.feed:
                site.add_feed(source.feed, lang=source.lang)

    def publish(self, item: Item, now: datetime | None = None) -> Article:
        """Put ``item`` on the site, dated ``days_ago`` before ``now``; the site's article (its
        ``canonical`` is the identity the crawler stores it under)."""
        published = (now or datetime.now(UTC)) - timedelta(days=item.days_ago)
        source = self.script.source(item.source)
        paragraphs = list(item.paragraphs)
        if source.feed:
            return self.site.add_feed_item(source.feed, item.title, paragraphs, published=published)
        news_id, self._next_news_id = self._next_news_id, self._next_news_id + 1
        return self.site.add_ithome_article(
            item.title, paragraphs, published=published, news_id=news_id, tags=("AI",), image=False
        )
