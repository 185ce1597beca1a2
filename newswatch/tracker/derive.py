"""Events in, records out: the status of every (subject, region, audience). Pure.

Events are applied in the order they took effect (the effective date, else the day reported), one
region at a time:

- **restrict** opens the record of its (subject, region, audience), or re-opens it when it was lifted;
  on an open record it is one more event of its history.
- **partial** does the same with the status ``partial``: part of the service, or part of the
  audience, is restricted while the rest is available (Meta AI arriving in the EU with chat only, the
  House allowing only ChatGPT Plus). On a restricted record it means part was restored.
- **lift** closes every open record of its region that it covers:

  - subject: the same subject, or a provider lift covering that provider's services (a lift of
    "deepseek" in KR closes the DeepSeek app's record there); a lift of one service of a restricted
    provider restores only part of it;
  - audience: the same audience or a narrower one ("developers" covers "individual-developers";
    everyone covers consumers, developers and enterprises, but never government devices or
    ownership rules, which only a lift naming them ends); a lift for part of a record's audience
    (enterprises when everyone was restricted) restores only part of it.

  Covering both ways makes the record ``lifted``; covering part makes it ``partial``. A lift that
  covers nothing open is recorded as a lifted record of its own (a launch that arrives).

Stories are reports, and outlets differ in detail: a story joins a record instead of making one when
the events helper named the story it updates (``parent_id``) and that story is on a record of the
same region, or when it repeats an event already on an open (or, for a lift, lifted) record of its
region: the same subject or one of its provider's services, a compatible audience (the same, a
narrower or broader one, or unsaid) and a date within ``DUPLICATE_WINDOW``. Such a report never
changes the status; it can supply the effective date the first report lacked. History and config
entries are curated, so each one applies as written; one that opens a record takes in the records of
stories that reported it first (a notice read before the day the block takes effect).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from .model import Change, Event, Record

DUPLICATE_WINDOW = timedelta(days=7)
_WINDOW = range(-DUPLICATE_WINDOW.days, DUPLICATE_WINDOW.days + 1)
OPEN = ("restricted", "partial")
_PUBLIC = frozenset({None, "consumers", "developers", "individual-developers", "enterprises"})
_PARENT = {"individual-developers": "developers"}  # a narrower audience inside a broader one
_ORIGIN_ORDER = {"history": 0, "config": 1, "story": 2}


def build(events: Iterable[Event]) -> list[Record]:
    """The records the events add up to, by region, subject and audience."""
    book = _Book()
    for event in sorted(events, key=lambda e: (e.on, e.reported, _ORIGIN_ORDER[e.origin])):
        for region in event.regions:
            book.apply(event, region)
    return sorted(
        (draft.record() for draft in book.drafts), key=lambda r: (r.region, r.subject, r.audience or "")
    )


@dataclass
class _Draft:
    subject: str
    providers: tuple[str, ...]
    region: str
    audience: str | None
    status: str
    since: date
    effective: date | None
    events: list[Event]
    history: list[Change]
    curated: bool = False  # a history or config entry is among its events
    seq: int = 0  # order of creation
    # The days (ordinals) the events of the current status took effect and were reported, with
    # whether they lift: a repeat check is a few set lookups however many reports there are.
    days: set[tuple[bool, int]] = field(default_factory=set)
    days_reported: set[tuple[bool, int]] = field(default_factory=set)

    def note(self, event: Event) -> None:
        lifting = event.action == "lift"
        self.days.add((lifting, event.on.toordinal()))
        self.days_reported.add((lifting, event.reported.date().toordinal()))

    def repeated_by(self, event: Event) -> bool:
        """Whether an event of the current status, in the same direction, is within the window of
        ``event`` by the day it took effect or by the day it was reported."""
        lifting, on, reported = (
            event.action == "lift",
            event.on.toordinal(),
            event.reported.date().toordinal(),
        )
        return any(
            (lifting, on + d) in self.days or (lifting, reported + d) in self.days_reported for d in _WINDOW
        )

    def record(self) -> Record:
        return Record(
            self.subject,
            self.providers,
            self.region,
            self.audience,
            self.status,
            self.since,
            self.effective,
            tuple(self.events),
            tuple(self.history),
        )


class _Book:
    """The drafts so far, indexed by key, by region and name (subject or provider) and by story, so
    each event costs a few lookups however many records there are."""

    def __init__(self) -> None:
        self.drafts: list[_Draft] = []
        self.created = 0
        self.by_key: dict[tuple[str, str, str | None], _Draft] = {}
        self.by_name: dict[tuple[str, str], list[_Draft]] = defaultdict(list)
        self.by_story: dict[str, list[_Draft]] = defaultdict(list)

    def apply(self, event: Event, region: str) -> None:
        linked = [d for d in self.by_story.get(event.parent_id or "", ()) if d.region == region]
        if event.action == "lift":
            self._lift(event, region, linked)
        else:
            self._restrict(event, region, linked, "partial" if event.action == "partial" else "restricted")

    def _restrict(self, event: Event, region: str, linked: list[_Draft], status: str) -> None:
        same = linked[0] if linked else self._repeated(event, region, OPEN)
        if same is not None:
            if same.status in OPEN:
                self._confirm(same, event)
            else:
                self._change(same, event, status)
            return
        draft = self.by_key.get((event.subject, region, event.audience))
        if draft is None:
            self._open(event, region, status, OPEN)
        elif draft.status == status:
            self._add(draft, event)
        else:
            self._change(draft, event, status)

    def _lift(self, event: Event, region: str, linked: list[_Draft]) -> None:
        targets = {id(d): (d, "lifted") for d in linked if d.status in OPEN}
        for draft in self._kin(event, region):
            if draft.status in OPEN and id(draft) not in targets and (cover := _coverage(event, draft)):
                targets[id(draft)] = (draft, cover)
        for draft, status in targets.values():
            if draft.status == status:
                self._add(draft, event)
            else:
                self._change(draft, event, status)
        if targets:
            return
        if (repeat := self._repeated(event, region, ("lifted",))) is not None:
            self._confirm(repeat, event)
        elif (draft := self.by_key.get((event.subject, region, event.audience))) is not None:
            self._add(draft, event)  # lifted already: nothing open it could cover
        else:
            self._open(event, region, "lifted", ("lifted",))

    def _repeats(self, event: Event, region: str, statuses: tuple[str, ...]) -> list[_Draft]:
        """The records of ``region`` whose current status ``event`` repeats (see the module docstring)."""
        return [
            draft
            for draft in self._kin(event, region)
            if draft.status in statuses
            and _compatible(event.audience, draft.audience)
            and draft.repeated_by(event)
        ]

    def _kin(self, event: Event, region: str) -> list[_Draft]:
        """The records of ``region`` about the same subject, one of its providers or one of their
        services, oldest first."""
        found = {
            id(d): d
            for name in (event.subject, *event.providers)
            for d in self.by_name.get((region, name), ())
            if _related(event, d)
        }
        return sorted(found.values(), key=lambda d: d.seq)

    def _repeated(self, event: Event, region: str, statuses: tuple[str, ...]) -> _Draft | None:
        """The record a story repeats; curated entries never repeat anything."""
        if event.origin != "story":
            return None
        return next(iter(self._repeats(event, region, statuses)), None)

    def _open(self, event: Event, region: str, status: str, statuses: tuple[str, ...]) -> None:
        """A new record. A curated entry takes in the records of stories that reported it before the
        day it took effect (the notice of a block, a launch reported ahead), so that later reports
        find one record."""
        draft = _Draft(
            event.subject,
            event.providers,
            region,
            event.audience,
            status,
            event.on,
            event.effective,
            [],
            [Change(status, event.on, event)],
            curated=event.origin != "story",
            seq=self.created,
        )
        self.created += 1
        if draft.curated:
            earlier = [
                d
                for d in self._repeats(event, region, statuses)
                if not d.curated and len(d.history) == 1  # one status: all its events are current
            ]
            for old in earlier:
                self._drop(old)
            for earlier_event in sorted(
                (e for d in earlier for e in d.events), key=lambda e: (e.on, e.reported)
            ):
                self._add(draft, earlier_event)
        self.drafts.append(draft)
        self.by_key.setdefault((event.subject, region, event.audience), draft)
        for name in {draft.subject, *draft.providers}:
            self.by_name[region, name].append(draft)
        self._add(draft, event)

    def _drop(self, draft: _Draft) -> None:
        self.drafts.remove(draft)
        for name in {draft.subject, *draft.providers}:
            self.by_name[draft.region, name].remove(draft)
        key = (draft.subject, draft.region, draft.audience)
        if self.by_key.get(key) is draft:
            del self.by_key[key]
        for event in draft.events:
            if event.story_id:
                self.by_story[event.story_id].remove(draft)

    def _add(self, draft: _Draft, event: Event) -> None:
        draft.events.append(event)
        draft.note(event)
        if event.story_id:
            self.by_story[event.story_id].append(draft)

    def _confirm(self, draft: _Draft, event: Event) -> None:
        """Another report of the current status: it may say when the change takes effect."""
        self._add(draft, event)
        if draft.effective is None and event.effective is not None:
            draft.effective = draft.since = event.effective
            draft.history[-1] = replace(draft.history[-1], on=event.effective)

    def _change(self, draft: _Draft, event: Event, status: str) -> None:
        draft.status, draft.since, draft.effective = status, event.on, event.effective
        draft.days.clear()
        draft.days_reported.clear()
        draft.history.append(Change(status, event.on, event))
        self._add(draft, event)


def _coverage(lift: Event, draft: _Draft) -> str | None:
    """What ``lift`` does to an open record: "lifted", "partial" (part restored) or None."""
    if lift.subject == draft.subject or (lift.subject in lift.providers and lift.subject in draft.providers):
        whole_subject = True
    elif draft.subject in draft.providers and draft.subject in lift.providers:
        whole_subject = False  # one service of a restricted provider
    else:
        return None
    if _covers(lift.audience, draft.audience):
        whole_audience = True
    elif _covers(draft.audience, lift.audience):
        whole_audience = False  # part of the record's audience
    else:
        return None
    return "lifted" if whole_subject and whole_audience else "partial"


def _covers(broad: str | None, narrow: str | None) -> bool:
    return (
        broad == narrow
        or (broad is None and narrow in _PUBLIC)
        or (narrow in _PARENT and _PARENT[narrow] == broad)
    )


def _compatible(a: str | None, b: str | None) -> bool:
    return a is None or b is None or _covers(a, b) or _covers(b, a)


def _related(event: Event, draft: _Draft) -> bool:
    return (
        event.subject == draft.subject or event.subject in draft.providers or draft.subject in event.providers
    )
