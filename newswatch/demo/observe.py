"""What the store says became of an article the demo published: stored, in which story, alerted.

Why read the store: the demo waits for the real pipeline (crawl, detector, stories, outbox, sender)
and checks its outcome where the service records it, without hooking into any of it. Read-only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from bot.delivery import ALERTS_SINCE
from bot.senders import CONSOLE_CHAT_ID

from ..storage import stories as story_store
from ..storage.outbox import SENT
from ..storage.schema import articles, outbox, stories, subscribers


@dataclass(frozen=True)
class Seen:
    """One article's fate so far. ``story_id`` None: not stored (yet)."""

    story_id: str | None = None
    relevant: bool = False
    change: str | None = None  # its story's: "lifted", ... (``detect.stories``)
    parent_id: str | None = None  # the earlier story whose status its story changes
    article_count: int = 0  # reports its story has
    alerts: int = 0  # alerts sent to the console for its story
    rendered: int = 0  # reports the sent alert shows, edits included

    @property
    def edited(self) -> bool:
        """Its story's alert has been edited to show every report of it."""
        return self.alerts > 0 and self.rendered >= self.article_count > 1


def alerts_started(engine: Engine) -> bool:
    """The first round of polls is stored (as history): what comes next is news."""
    return story_store.get_meta(engine, ALERTS_SINCE) is not None


def article_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(articles)).scalar_one()


def seen(engine: Engine, canonical: str) -> Seen:
    """What became of the article stored under ``canonical``."""
    with engine.connect() as conn:
        row = conn.execute(
            select(articles.c.story_id, articles.c.relevant).where(articles.c.url == canonical)
        ).first()
        if row is None or row.story_id is None:
            return Seen()
        story = conn.execute(
            select(stories.c.change, stories.c.parent_id, stories.c.article_count).where(
                stories.c.id == row.story_id
            )
        ).one()
        sent = conn.execute(
            select(func.count(), func.coalesce(func.max(outbox.c.rendered_count), 0))
            .select_from(outbox.join(subscribers, subscribers.c.id == outbox.c.subscriber_id))
            .where(
                outbox.c.story_id == row.story_id,
                outbox.c.status == SENT,
                subscribers.c.chat_id == CONSOLE_CHAT_ID,
            )
        ).one()
    return Seen(
        row.story_id, bool(row.relevant), story.change, story.parent_id, story.article_count, sent[0], sent[1]
    )
