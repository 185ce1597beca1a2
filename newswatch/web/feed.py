"""``/feed.xml``: the alerts as an Atom feed, so any feed reader or RSS-to-chat bridge can follow.

feedgen writes the XML (escaping, dates, the required elements); this module only maps stories to
entries: newest first, the tags as categories, every outlet's link in the content.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from feedgen.feed import FeedGenerator
from markupsafe import escape

from ..storage.stories import Story

FEED_TITLE = "newswatch: AI services restricted or restored by region"
FEED_SIZE = 50  # entries: the newest alerts


def story_urn(story_id: str) -> str:
    return f"urn:newswatch:story:{story_id}"


def _content(story: Story) -> str:
    """The summary and every outlet that reported the story, as HTML (feedgen escapes it)."""
    outlets = [o for o in story.outlets if o.get("url")] or [{"source": story.source, "url": story.url}]
    links = ", ".join(
        f'<a href="{escape(o["url"])}">{escape(o.get("source") or o["url"])}</a>' for o in outlets
    )
    summary = f"<p>{escape(story.summary)}</p>" if story.summary else ""
    return f"{summary}<p>Reported by {links}</p>"


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
        # One link: feedgen 1.0 drops the rel of entry links, and several rel-less links would all be
        # "alternate", which Atom forbids. Every outlet is linked from the content instead.
        entry.link(href=story.url)
        entry.published(story.published)
        entry.updated(story.created)
        if story.summary:
            entry.summary(story.summary)
        entry.content(_content(story), type="html")
        for kind, terms in story.tags.as_dict().items():  # who, where, what, for whom
            for term in terms:
                entry.category(term=term, scheme=f"urn:newswatch:{kind}", label=f"{kind}: {term}")
    return feed.atom_str(pretty=True)
