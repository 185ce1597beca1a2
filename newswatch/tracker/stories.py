"""Events from the stored stories: every kept, on-topic story is a restriction or a lift.

One query reads the columns the tracker needs from every such story; there is no per-story query,
so the tracker stays quick with tens of thousands of stories stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from ..detect.vocabulary import Vocabulary
from ..models import AUDIENCES
from ..storage.schema import stories
from .model import Event
from .query import vocabulary_for

_COLUMNS = (
    stories.c.id,
    stories.c.title,
    stories.c.url,
    stories.c.published,
    stories.c.updated,
    stories.c.tags,
    stories.c.effective,
    stories.c.change,
    stories.c.parent_id,
)


def story_events(engine: Engine, vocabulary: Vocabulary | None = None) -> list[Event]:
    """The events of the kept, relevant stories (watched-only stories are not about restrictions)."""
    vocabulary = vocabulary or vocabulary_for(None)
    return [event for row in story_rows(engine) for event in events_of(row, vocabulary)]


def story_rows(engine: Engine, since: datetime | None = None) -> list[Mapping[str, Any]]:
    """The kept, relevant stories, or only those updated at or after ``since``: one query.

    Writers bump ``updated`` whenever a story changes, and a story never stops being kept or
    relevant, so reading from the last ``updated`` seen misses nothing."""
    query = select(*_COLUMNS).where(stories.c.kept.is_(True), stories.c.relevant.is_(True))
    if since is not None:
        query = query.where(stories.c.updated >= since)
    with engine.connect() as conn:
        return conn.execute(query).mappings().all()


def events_of(row: Mapping[str, Any], vocabulary: Vocabulary) -> list[Event]:
    """A story's events: one per subject and audience it names.

    A story that says "lift" (or that the events helper marked ``lifted``) lifts; any other on-topic
    story restricts. Each named service is a subject; a provider none of the named services belongs
    to is a subject of its own ("DeepSeek and ChatGPT banned on government devices")."""
    tags = row["tags"] or {}
    regions = tuple(sorted(set(tags.get("regions") or ())))
    if not regions:
        return []
    services = sorted(set(tags.get("services") or ()))
    subjects = [
        (s, vocabulary.service_providers.get(s) or tuple(tags.get("providers") or ())) for s in services
    ]
    covered = {p for _, providers in subjects for p in providers}
    subjects += [(p, (p,)) for p in sorted(set(tags.get("providers") or ())) if p not in covered]
    audiences = sorted(a for a in set(tags.get("audience") or ()) if a in AUDIENCES) or [None]
    action = "lift" if row["change"] == "lifted" or "lift" in (tags.get("actions") or ()) else "restrict"
    return [
        Event(
            subject=subject,
            providers=tuple(sorted(providers)),
            regions=regions,
            audience=audience,
            action=action,
            effective=row["effective"],
            reported=row["published"],
            title=row["title"],
            url=row["url"],
            story_id=row["id"],
            origin="story",
            parent_id=row["parent_id"],
        )
        for subject, providers in subjects
        for audience in audiences
    ]
