"""``/feed.xml``: the alerts as an Atom feed, so any feed reader or RSS-to-chat bridge can follow.

feedgen writes the XML (escaping, dates, the required elements); this module only maps stories to
entries: newest first, the tags as categories, every outlet's link.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from feedgen.feed import FeedGenerator

from ..storage.stories import Story
from .views import TAG_KINDS

FEED_TITLE = "newswatch: AI services restricted or restored by region"
FEED_SIZE = 50  # entries: the newest alerts


def story_urn(story_id: str) -> str:
    return f"urn:newswatch:story:{story_id}"


def atom(stories: Sequence[Story], self_url: str, page_url: str, now: datetime | None = None) -> bytes:
    """The feed of ``stories`` (newest first) as UTF-8 Atom XML."""
    feed = FeedGenerator()
    feed.id(page_url)
    feed.title(FEED_TITLE)
    feed.author({"name": "newswatch"})
    feed.link(href=self_url, rel="self", type="application/atom+xml")
    feed.link(href=page_url, rel="alternate", type="text/html")
    feed.updated(stories[0].created if stories else (now or datetime.now(UTC)))
    for story in stories:
        entry = feed.add_entry(order="append")
        entry.id(story_urn(story.id))
        entry.title(story.title)
        entry.link(href=story.url, rel="alternate", title=story.source)
        for outlet in story.outlets:
            if outlet.get("url") and outlet["url"] != story.url:
                entry.link(href=outlet["url"], rel="related", title=outlet.get("source") or None)
        entry.published(story.published)
        entry.updated(story.created)
        if story.summary:
            entry.summary(story.summary)
        tags = story.tags.as_dict()
        for kind in TAG_KINDS:
            for term in tags[kind]:
                entry.category(term=term, scheme=f"urn:newswatch:{kind}", label=f"{kind}: {term}")
    return feed.atom_str(pretty=True)
