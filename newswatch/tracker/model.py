"""What the tracker keeps: events (one change of status each) and records (the status they add up to)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

ACTIONS = ("restrict", "lift", "partial")  # what an event does to a status
STATUSES = ("restricted", "lifted", "partial")
ORIGINS = ("history", "config", "story")
AUDIENCE_LABELS = {  # how an audience is written for people (None: everyone)
    None: "everyone",
    "consumers": "consumers",
    "developers": "developers",
    "individual-developers": "individual developers",
    "enterprises": "enterprises",
    "government-devices": "government devices",
    "ownership": "companies by ownership",
}


@dataclass(frozen=True)
class Event:
    """One change of status: ``subject`` (a service name such as "openai api", or a provider slug when
    no service is named) restricted, lifted or partly restricted in ``regions`` for ``audience``
    (one of ``newswatch.models.AUDIENCES``; None: everyone).

    History and config events are curated facts; story events come from what detection tagged, so
    only they are checked for being another report of an event already known (see ``derive``).
    """

    subject: str
    providers: tuple[str, ...]
    regions: tuple[str, ...]
    audience: str | None
    action: str  # one of ACTIONS
    effective: date | None
    reported: datetime  # UTC
    title: str
    url: str
    story_id: str | None = None  # None for history and config events
    origin: str = "story"  # one of ORIGINS
    parent_id: str | None = None  # the story whose status this story changes (stories only)

    @property
    def on(self) -> date:
        """When the change takes or took effect: the effective date when known, else the report's."""
        return self.effective or self.reported.date()

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "providers": list(self.providers),
            "regions": list(self.regions),
            "audience": self.audience,
            "action": self.action,
            "effective": _iso(self.effective),
            "reported": self.reported.isoformat(),
            "title": self.title,
            "url": self.url,
            "story_id": self.story_id,
            "origin": self.origin,
            "parent_id": self.parent_id,
        }


@dataclass(frozen=True)
class Change:
    """A step of a record's history: from ``on`` its status was ``status``, because of ``event``."""

    status: str
    on: date
    event: Event

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "since": self.on.isoformat(),
            "title": self.event.title,
            "url": self.event.url,
            "origin": self.event.origin,
            "story_id": self.event.story_id,
        }


@dataclass(frozen=True)
class Record:
    """The current status of one (subject, region, audience): ``status`` since ``since``.

    ``events`` are every report and entry that made or confirmed it, oldest first; ``history`` the
    steps among them that changed the status (the first one opened the record).
    """

    subject: str
    providers: tuple[str, ...]
    region: str
    audience: str | None
    status: str  # one of STATUSES
    since: date
    effective: date | None
    events: tuple[Event, ...]
    history: tuple[Change, ...]

    @property
    def current(self) -> tuple[Event, ...]:
        """The events of the current status: the one that set it and the reports that confirmed it."""
        start = self.history[-1].event
        return self.events[next(i for i, e in enumerate(self.events) if e is start) :]

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "providers": list(self.providers),
            "region": self.region,
            "audience": self.audience,
            "status": self.status,
            "since": self.since.isoformat(),
            "effective": _iso(self.effective),
            "history": [change.as_dict() for change in self.history],
            "events": [event.as_dict() for event in self.events],
        }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
