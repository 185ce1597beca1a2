"""Group reports of one real-world event into stories, and tell a change of status from a repeat.

A story is an event: **who** (the providers, and the services when a report names them), **where**
(the regions, and places inside them such as a US state), **which way** (a restriction, or its
lifting) and **for whom** (the audience). Evidence is reduced to lookup keys, so that finding
candidates is an indexed query, not a scan:

- ``f:`` an exact fingerprint of the normalized headline and opening (the same article under another
  URL);
- ``b:`` MinHash LSH bands over word/character shingles of the headline and opening (reposts with
  small edits copy the lead), confirmed by the estimated Jaccard similarity of the two signatures;
- ``e:{provider}:{region}:{res|lift}`` the event, one key per provider and region, language-neutral.
  The lookup is tolerant so that reports with different detail meet: one naming ChatGPT and one
  naming OpenAI, one saying mainland China and one adding Hong Kong. The candidate story confirms
  strictly (``_Story.tells``, against every report of it), so that distinct events never join even
  when they share a provider and a region: the API block and ChatGPT sign-ups, Texas and New York,
  government devices and consumer downloads, Italy's block and its lifting. A date announced ahead is
  the event's own: a report naming it joins whichever service it names (ChatGPT for the API notice).
- ``w:{provider}`` every on-topic report of a provider: where a report saying it extends a
  restriction finds it, whatever its regions.

A report joins the earliest matching story whose first report is within ``WINDOW`` of it. A report
that joins nothing starts a story, and its provider's stories ``HORIZON`` back say what kind:

- **lifted**: the lifting of the latest matching restriction (Italy's ChatGPT block, four weeks on);
- **effective**: a restriction announced ahead, reported again once it takes effect;
- **extended**: a restriction that, in so many words, reaches a region or audience it did not;
- **told already**: a round-up whose every region is in earlier stories: stored, not alerted;
- otherwise a new event.

A second report of the same change joins the first one's story. Everything here is pure: the store
and ``newswatch classify`` differ only in their :class:`StoryIndex`.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Protocol

from ..models import Detection, Tags
from .text import MAX_DETECT_CHARS

if TYPE_CHECKING:
    import numpy as np

WINDOW = timedelta(days=7)  # reports join a story within a week of its first report
# Follow-ups, explainers and round-ups of one event trail its first report by up to a fortnight: a
# report within that of a story it merely repeats, out of its window, starts a story but no alert.
TRAIL = 2 * WINDOW
# How far back an event's history goes: Italy's lift came four weeks after the block, Korea's ten
# weeks, Apple Intelligence and Meta AI reached the EU nine months after being withheld.
HORIZON = timedelta(days=366)
NUM_PERM = 64
BANDS, ROWS = 16, 4  # 16 x 4 = 64: candidates from Jaccard ~0.5 up
MIN_JACCARD = 0.6
SHINGLE = 3  # tokens: words, or single CJK characters
SIGNED_TOKENS = 512
MIN_REGION_OVERLAP = 0.5  # Jaccard of region sets: CN and CN+HK join, one country and a round-up don't
_LEAD_CHARS = 400  # the headline and first paragraph: where a report says what it is about
# Wording that says a restriction reaches further than before, or has now taken effect. Consulted
# only against an earlier story of the same event: on its own, such wording changes nothing.
_EXTENDS_RE = re.compile(
    # (not a call for it: "the ban should be widened to critical infrastructure")
    r"(?<!should be )(?<!could be )(?<!would be )(?<!might be )"
    r"\b(?:extend|expand|widen|broaden)(?:s|ed)\b[^.]{0,60}?\b(?:to|into)\b"
    r"|\bnow (?:also|covers?|includes?|applies)\b|\bno longer only\b"
    r"|扩大(?:到|至)|扩展(?:到|至)|延伸(?:到|至)|扩至|扩及"
)
_IN_EFFECT_RE = re.compile(
    r"\b(?:takes?|took|taking) effect\b|\bnow in effect\b|\bin force\b|\bkick(?:s|ed)? in\b"
    r"|\bgoes live\b|\bfrom today\b|生效|正式实施|今日起|今天起"
)

PROVIDER_KEY = "w:"
HISTORY_KEYS = ("e:", PROVIDER_KEY)  # kept for HORIZON; the others only join reports within WINDOW
RES, LIFT = "res", "lift"
LIFTED, EFFECTIVE, EXTENDED = "lifted", "effective", "extended"  # stories.change


@dataclass(frozen=True)
class Event:
    """Who, where, which way and for whom, as one report tells it."""

    providers: frozenset[str]
    services: frozenset[str]
    regions: frozenset[str]
    places: frozenset[str] = frozenset()
    audience: frozenset[str] = frozenset()
    lift: bool = False

    @classmethod
    def of(cls, tags: Tags, places: Iterable[str] = ()) -> Event:
        return cls.stored(vars(tags), places)

    @classmethod
    def stored(cls, tags: dict, places: Iterable[str] = ()) -> Event:
        """From an article's stored tags (``Tags.as_dict``; older rows lack ``audience``), cheaply:
        a lookup in a busy store builds hundreds."""
        return cls(
            frozenset(tags.get("providers", ())),
            frozenset(tags.get("services", ())),
            frozenset(tags.get("regions", ())),
            frozenset(places),
            frozenset(tags.get("audience", ())),
            "lift" in tags.get("actions", ()),
        )


@dataclass(frozen=True)
class StoryKeys:
    """What an article contributes to story lookup."""

    keys: tuple[str, ...]
    signature: bytes  # MinHash values, uint32 little-endian; empty for texts too short to sign
    event: Event | None = None  # on-topic reports only
    effective: date | None = None  # when the report says the change takes or took effect
    lead: str = ""  # the start of its normalized text: headline and first paragraph

    @property
    def extends(self) -> bool:
        """Its lead says the restriction reaches further than before."""
        return bool(_EXTENDS_RE.search(self.lead))

    @property
    def in_effect(self) -> bool:
        """Its lead says the restriction has taken effect."""
        return bool(_IN_EFFECT_RE.search(self.lead))


@dataclass(frozen=True)
class Candidate:
    """A stored article that shares a key with the new one, with what its story says so far."""

    story_id: str
    key: str
    published: datetime  # the article's
    signature: bytes
    event: Event | None
    first: datetime  # the story's first report
    effective: date | None = None  # the story's
    parent_id: str | None = None  # the story's: the earlier story whose status it changes
    change: str | None = None


@dataclass(frozen=True)
class Placement:
    """Where a report goes: into an existing story, or a new one (naming the story whose status it
    changes, if any). ``alert`` is False for a new story that tells nothing new."""

    story_id: str | None  # None: a new story
    parent_id: str | None = None
    change: str | None = None  # None | "lifted" | "effective" | "extended"
    alert: bool = True


class StoryIndex(Protocol):
    """Where keys live: a dict for one ``classify`` batch, an indexed table in the store."""

    def candidates(
        self, keys: Sequence[str], since: datetime, until: datetime, *, latest_first: bool = False
    ) -> list[Candidate]:
        """Articles holding any of ``keys``, published in [since, until]; a bounded number, the
        earliest first (or the latest first)."""
        ...

    def add(self, story_id: str, keys: StoryKeys, published: datetime, placement: Placement) -> None:
        """Record the article's keys (``placement``: how its story started, for a new one)."""
        ...


# --- keys -------------------------------------------------------------------------------------------


def story_keys(normalized_text: str, detection: Detection) -> StoryKeys:
    """The keys of a report from its normalized headline and opening (``text.Lead``): what a copy or
    a repost shares with the original, and what the join reads of the wording, at a cost that does not
    grow with the body."""
    tokens = _token_hashes(normalized_text)
    keys = ["f:" + hashlib.blake2b(tokens.tobytes(), digest_size=12).hexdigest()]
    signature = b""
    values = _minhash(tokens)
    if values is not None:
        signature = values.astype("<u4").tobytes()
        width = ROWS * 4
        for band in range(BANDS):
            chunk = signature[band * width : (band + 1) * width]
            keys.append(f"b:{band}:{hashlib.blake2b(chunk, digest_size=8).hexdigest()}")
    if not detection.relevant:
        return StoryKeys(tuple(keys), signature)
    event = Event.of(detection.tags, detection.places)
    keys += _event_keys(event, (LIFT if event.lift else RES,))
    keys += [f"{PROVIDER_KEY}{p}" for p in sorted(event.providers)]
    return StoryKeys(tuple(keys), signature, event, detection.effective, normalized_text[:_LEAD_CHARS])


def _event_keys(event: Event, directions: Iterable[str]) -> list[str]:
    return [
        f"e:{p}:{r}:{d}" for d in directions for p in sorted(event.providers) for r in sorted(event.regions)
    ]


# Fixed seeds and scheme: signatures are stored, so every process must compute the same.
_BASE = 1_000_003  # odd, so invertible modulo 2**64


@dataclass(frozen=True)
class _Tables:
    perm_a: np.ndarray
    perm_b: np.ndarray
    mix: tuple[np.uint64, np.uint64]
    pow: np.ndarray
    inv_pow: np.ndarray


@cache
def _tables() -> _Tables:
    """numpy and the hash tables, made for the first text signed: a crawl that stores nothing new
    never imports numpy (60 ms of CPU and 15 MB in every crawl process)."""
    import numpy as np

    rng = np.random.RandomState(7)
    perm_a = rng.randint(0, 1 << 63, size=NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    perm_b = rng.randint(0, 1 << 63, size=NUM_PERM, dtype=np.uint64)
    mix = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
    return _Tables(perm_a, perm_b, mix, _powers(_BASE), _powers(pow(_BASE, -1, 1 << 64)))


def _powers(base: int) -> np.ndarray:
    """base**0, base**1, ... modulo 2**64, one per character the detector reads."""
    import numpy as np

    with np.errstate(over="ignore"):
        rising = np.cumprod(np.full(MAX_DETECT_CHARS, base, dtype=np.uint64))
    return np.concatenate((np.ones(1, dtype=np.uint64), rising))


def _token_hashes(normalized_text: str) -> np.ndarray:
    """A 64-bit hash per token (an ASCII word or digit run, or one CJK character) of the text,
    vectorized over its code points with prefix sums of a polynomial hash: no loop over tokens."""
    import numpy as np

    t = _tables()
    codes = np.frombuffer(normalized_text.encode("utf-32-le"), dtype="<u4")[: len(t.pow) - 1]
    cjk = (codes >= 0x3400) & (codes <= 0x9FFF)
    word = ((codes >= 0x61) & (codes <= 0x7A)) | ((codes >= 0x30) & (codes <= 0x39)) | cjk
    alone = cjk | ~word  # what a word cannot continue through
    starts = word & np.concatenate(([True], alone[:-1] | cjk[1:]))
    ends = word & np.concatenate((alone[1:] | cjk[:-1], [True]))
    first, last = np.flatnonzero(starts), np.flatnonzero(ends) + 1
    with np.errstate(over="ignore"):
        prefix = np.concatenate(([np.uint64(0)], np.cumsum(codes * t.pow[: len(codes)])))
        return (prefix[last] - prefix[first]) * t.inv_pow[first]


def _minhash(tokens: np.ndarray) -> np.ndarray | None:
    """MinHash of the shingles (three consecutive tokens) of the first ``SIGNED_TOKENS``: a repost
    copies the lead, and the cost stays flat however long the article. Each permutation is a
    multiply-shift hash (64-bit multiply-add, top 32 bits). None when the text is too short to sign.

    The shift comes after the minimum (it keeps order, so the values are the same) and each
    permutation is one contiguous row: one pass fewer over the shingles x permutations table."""
    import numpy as np

    if len(tokens) < SHINGLE + 5:
        return None
    t = _tables()
    tokens = tokens[:SIGNED_TOKENS]
    with np.errstate(over="ignore"):
        shingles = tokens[:-2] * t.mix[0] + tokens[1:-1] * t.mix[1] + tokens[2:]
        hashed = np.multiply.outer(t.perm_a, shingles)
        hashed += t.perm_b[:, None]
        return (hashed.min(axis=1) >> np.uint64(32)).astype(np.uint32)


def jaccard(a: bytes, b: bytes) -> float:
    """The share of equal MinHash values of two signatures (uint32 little-endian)."""
    if not a or len(a) != len(b):
        return 0.0
    va, vb = memoryview(a).cast("I"), memoryview(b).cast("I")  # the machine's order: equal either way
    return sum(x == y for x, y in zip(va, vb, strict=True)) / len(va)


# --- one event or two -----------------------------------------------------------------------------


def same_who(a: Event, b: Event) -> bool:
    """Both name services: one must be shared (the API and ChatGPT sign-ups are two events). One
    names only the provider: the other's service must be that provider's alone (ChatGPT is OpenAI's;
    Azure OpenAI is Microsoft's too). Neither: the same providers."""
    if a.services and b.services:
        return bool(a.services & b.services)
    if a.services or b.services:
        named, bare = (a, b) if a.services else (b, a)
        return named.providers <= bare.providers
    return a.providers == b.providers


# The kind of measure an audience stands for. Reports of one cut-off of an app or an API name its
# users, its developers or its business customers as they please; a ban on government devices and a
# rule on companies by their owners are other measures.
_MEASURE = {
    "consumers": "market",
    "developers": "market",
    "individual-developers": "market",
    "enterprises": "market",
    "government-devices": "government",
    "ownership": "ownership",
}


def _measures(audience: frozenset[str]) -> set[str]:
    return {_MEASURE.get(a, a) for a in audience}


def same_audience(a: Event, b: Event) -> bool:
    """Unsaid is compatible with anything; otherwise the audiences must stand for the same kind of
    measure (government devices and consumer downloads are two events; users and developers of one
    cut-off are one)."""
    return not a.audience or not b.audience or bool(_measures(a.audience) & _measures(b.audience))


def same_places(a: Event, b: Event) -> bool:
    """Places inside a region tell same-country events apart (Texas, New York, the US Navy); a report
    naming one place more (New York's ban "after Texas") or none is still the same event."""
    return a.places <= b.places or b.places <= a.places


def same_identity(a: Event, b: Event) -> bool:
    """The same who, for whom and places: everything but the regions and the direction."""
    return same_who(a, b) and same_audience(a, b) and same_places(a, b)


# The EEA states outside the EU take its rules with it: one report of a launch withheld from "the EU"
# and one listing "the EU, Iceland, Liechtenstein and Norway" tell the same place.
_WITH_THE_EU = frozenset({"IS", "LI", "NO"})


def region_overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard of two region sets, the EEA states counted with the EU when the EU is named."""
    a, b = _with_the_eu(a), _with_the_eu(b)
    return len(a & b) / len(a | b) if a or b else 0.0


def _with_the_eu(regions: frozenset[str]) -> frozenset[str]:
    return regions - _WITH_THE_EU if "EU" in regions else regions


# --- placing a report -----------------------------------------------------------------------------


@dataclass
class _Story:
    """A story as its candidate articles show it."""

    id: str
    first: datetime
    effective: date | None
    parent_id: str | None
    change: str | None
    events: list[Event] = field(default_factory=list)

    @property
    def lift(self) -> bool:
        return self.events[0].lift

    @property
    def providers(self) -> frozenset[str]:
        return frozenset().union(*(e.providers for e in self.events))

    @property
    def regions(self) -> frozenset[str]:
        return frozenset().union(*(e.regions for e in self.events))

    @property
    def places(self) -> frozenset[str]:
        return frozenset().union(*(e.places for e in self.events))

    @property
    def audience(self) -> frozenset[str]:
        return frozenset().union(*(e.audience for e in self.events))

    def agrees(self, event: Event) -> bool:
        """The report contradicts none of the story's reports in who, for whom and places: one
        report naming no place must not let Texas join the US Navy's story."""
        return all(same_identity(event, e) for e in self.events)

    def concerns(self, event: Event) -> bool:
        """The report is about the story's event, for its history: for whom and places as every
        report of it, and who as at least half of them (a story that took in a report naming ChatGPT
        by the date it announced is still the API block that a later report says took effect; one
        report naming only Meta does not make the Llama story Meta AI's)."""
        return all(same_audience(event, e) and same_places(event, e) for e in self.events) and 2 * sum(
            same_who(event, e) for e in self.events
        ) >= len(self.events)

    def announced_alike(self, event: Event, effective: date | None) -> bool:
        """The report names the date the story announced ahead, for the same providers, for whom and
        places: an announced date is the event's own, so the service each outlet names does not
        split it (one says ChatGPT where the notice says the API; both say 9 July)."""
        return (
            effective is not None
            and effective == self.effective
            and effective > self.first.date()
            and all(
                event.providers == e.providers and same_audience(event, e) and same_places(event, e)
                for e in self.events
            )
        )

    def tells(self, event: Event, effective: date | None = None) -> bool:
        """The same event: agreeing (or naming the date it announced), the same direction, and
        regions that are mostly those of one of its reports or of all together, or mostly what two
        of its reports name alike (a Chinese outlet naming only China, or China and Hong Kong, for a
        rule on China, Russia, Iran and North Korea; round-ups that list different countries do not
        make them one event, nor take in one country's report)."""
        if self.lift != event.lift or not (self.agrees(event) or self.announced_alike(event, effective)):
            return False
        named = Counter(e.regions for e in self.events)
        return (
            region_overlap(event.regions, self.regions) >= MIN_REGION_OVERLAP
            or any(region_overlap(event.regions, e.regions) >= MIN_REGION_OVERLAP for e in self.events)
            or any(
                2 * len(event.regions & regions) >= len(event.regions) > 0
                for regions, count in named.items()
                if count >= 2
            )
        )

    def apart(self, other: _Story) -> bool:
        """No region in common, or places that differ (Texas and New York): two events."""
        return not self.regions & other.regions or not (
            self.places <= other.places or other.places <= self.places
        )


def _stories(candidates: Iterable[Candidate]) -> dict[str, _Story]:
    found: dict[str, _Story] = {}
    for c in candidates:
        if c.event is None:
            continue
        found.setdefault(c.story_id, _Story(c.story_id, c.first, c.effective, c.parent_id, c.change))
        found[c.story_id].events.append(c.event)
    return found


def choose_story(keys: StoryKeys, candidates: Iterable[Candidate], published: datetime) -> str | None:
    """The story the report joins within the window, or None: a copy's, else the earliest story
    telling the same event. A report telling the events of stories apart (Indonesia's and
    Malaysia's) is a round-up of them and joins neither."""
    copies: list[tuple[datetime, str]] = []
    events: list[Candidate] = []
    for cand in candidates:
        if abs(published - cand.first) > WINDOW:
            continue
        kind = cand.key[0]
        if kind == "f" or (kind == "b" and jaccard(keys.signature, cand.signature) >= MIN_JACCARD):
            if kind == "b" and keys.event and cand.event and keys.event.lift != cand.event.lift:
                continue  # "restores" reads almost word for word like "stops": a change, not a copy
            copies.append((cand.first, cand.story_id))
        elif kind == "e" and keys.event:
            events.append(cand)
    if copies:
        return min(copies)[1]
    report = keys.event
    matching = sorted(
        (s for s in _stories(events).values() if report and s.tells(report, keys.effective)),
        key=lambda s: s.first,
    )
    if not matching or any(matching[0].apart(other) for other in matching[1:]):
        return None
    return matching[0].id


def place(index: StoryIndex, keys: StoryKeys, published: datetime) -> Placement:
    """Where a report goes (see the module docstring). An event's history is looked up only for an
    on-topic report that joins no story, or says it extends one."""
    joined = choose_story(
        keys, index.candidates(keys.keys, published - WINDOW, published + WINDOW), published
    )
    event = keys.event
    if event is None or (joined and not keys.extends):
        return Placement(joined)
    if keys.extends:  # the restriction it extends may lie in other regions: the provider's stories
        providers = [k for k in keys.keys if k.startswith(PROVIDER_KEY)]
        stories = [s for s in _history(index, providers, published) if not joined or s.id == joined]
        if parent := _extended(event, stories):
            return _first_of_change(index, Placement(None, parent.id, EXTENDED), event, parent, published)
    if joined:
        return Placement(joined)
    history = _history(index, _event_keys(event, (RES, LIFT)), published)
    related = [s for s in history if s.regions & event.regions and s.concerns(event)]
    placement = _status(keys, published, related)
    if placement.parent_id is None:
        return placement
    parent = next(s for s in related if s.id == placement.parent_id)
    return _first_of_change(index, placement, event, parent, published)


def _history(index: StoryIndex, keys: list[str], published: datetime) -> list[_Story]:
    """The stories holding ``keys`` over ``HORIZON`` before ``published``, the latest first."""
    return list(_stories(index.candidates(keys, published - HORIZON, published, latest_first=True)).values())


def _first_of_change(
    index: StoryIndex, placement: Placement, event: Event, parent: _Story, published: datetime
) -> Placement:
    """A second report of the same change joins the first one's story (a Hong Kong report of the
    block taking effect joins the mainland's): looked up in the report's and the parent's regions."""
    where = Event(
        event.providers | parent.providers, frozenset(), event.regions | parent.regions, lift=event.lift
    )
    lookup = _event_keys(where, (LIFT if event.lift else RES,))
    siblings = [
        s
        for s in _stories(index.candidates(lookup, published - WINDOW, published + WINDOW)).values()
        if (s.parent_id, s.change) == (placement.parent_id, placement.change)
        and abs(published - s.first) <= WINDOW
    ]
    return Placement(min(siblings, key=lambda s: s.first).id) if siblings else placement


def _extended(event: Event, stories: Iterable[_Story]) -> _Story | None:
    """The latest restriction this report extends: the same who, and it brings a region or an
    audience that restriction did not have (a report that merely lists one more is noise)."""
    if event.lift:
        return None
    for story in sorted(stories, key=lambda s: s.first, reverse=True):
        if story.lift or not any(same_who(event, e) for e in story.events):
            continue
        if event.regions - story.regions or (story.audience and _new_audience(event, story)):
            return story
    return None


def _new_audience(event: Event, story: _Story) -> set[str]:
    """Whom the report names that the story did not (individual developers are developers)."""
    had = story.audience
    return {a for a in event.audience - had if not (a == "individual-developers" and "developers" in had)}


def _status(keys: StoryKeys, published: datetime, related: list[_Story]) -> Placement:
    """A report that starts a story, judged by the earlier stories of the same who, where and for
    whom: the latest of them is the state the report changes or repeats."""
    event = keys.event
    assert event is not None
    latest = max(related, key=lambda s: s.first, default=None)
    if latest is None or (latest.lift and not event.lift):
        return Placement(None)  # a new event, or restricted again after a lift
    # the restriction the report is about: of those since the last lift, the closest in regions and
    # then the first (the one subscribers were alerted to; later ones repeat or update it)
    lifted = max((s.first for s in related if s.lift), default=None)
    restriction = max(
        (s for s in related if not s.lift and (lifted is None or s.first > lifted)),
        key=lambda s: (region_overlap(s.regions, event.regions), -s.first.timestamp()),
        default=None,
    )
    if restriction and event.lift and not latest.lift:
        return Placement(None, restriction.id, LIFTED)
    told = _told(event, related)
    if told and not (restriction and restriction.effective):
        # a round-up saying one entry is "in effect since the 16th" tells nothing new; a notice
        # that announced its date does take effect, however many stories its reports made
        return Placement(None, alert=False)
    if restriction and not event.lift and _takes_effect(keys, published, restriction):
        return Placement(None, restriction.id, EFFECTIVE)
    state = latest if event.lift else restriction
    repeat = state is not None and _repeats(event, state, published)
    return Placement(None, alert=not repeat and not told)


def _repeats(event: Event, state: _Story, published: datetime) -> bool:
    """A late report of the state as it stands, changing nothing, while its coverage still trails
    (``TRAIL``): the same event told again (the same who, direction and places, no region beyond the
    story's, and for whom in so many words, as the story says it). A report that leaves for whom
    unsaid may be another measure, and one months on another event the tags cannot tell apart (an
    App Store purge of ChatGPT clones after a ban on platforms offering ChatGPT): both alert."""
    measures = _measures(event.audience)
    return (
        published - state.first <= TRAIL
        and bool(measures)
        and measures == _measures(state.audience)
        and event.regions <= state.regions
        and state.tells(event)
    )


def _takes_effect(keys: StoryKeys, published: datetime, earlier: _Story) -> bool:
    """The report comes once the earlier restriction takes effect: on or after the date it was
    announced for, or saying in so many words that it is now in effect (and not that it was already
    in effect when first reported)."""
    if keys.effective is not None and keys.effective <= earlier.first.date():
        return False
    due = earlier.effective or keys.effective
    if due is not None and earlier.first.date() < due <= published.date():
        return keys.in_effect if keys.effective is None else keys.effective <= published.date()
    return keys.in_effect and due is None


def _told(event: Event, related: list[_Story]) -> bool:
    """A round-up of events already told: every region it names is in one of two or more earlier
    stories of the same direction that no later story of the other direction overturned. (A late
    report of one event alone may be news the tags cannot tell apart, so it alerts.)"""
    latest: dict[str, _Story] = {}
    for story in related:
        for region in story.regions & event.regions:
            if region not in latest or story.first > latest[region].first:
                latest[region] = story
    return (
        set(latest) == event.regions
        and len({s.id for s in latest.values()}) > 1
        and all(s.lift == event.lift for s in latest.values())
    )


def new_story_id(seed: str) -> str:
    return "s-" + hashlib.blake2b(seed.encode(), digest_size=6).hexdigest()


def assign(index: StoryIndex, keys: StoryKeys, published: datetime, seed: str) -> tuple[str, Placement]:
    """Join an existing story or start one (id derived from ``seed``, e.g. the canonical URL)."""
    placement = place(index, keys, published)
    story_id = placement.story_id or new_story_id(seed)
    index.add(story_id, keys, published, placement)
    return story_id, placement


class MemoryIndex:
    """A :class:`StoryIndex` in a dict, for one batch of ``newswatch classify`` and for scoring."""

    def __init__(self) -> None:
        self._by_key: dict[str, list[tuple[str, datetime, bytes, Event | None]]] = {}
        self._stories: dict[str, tuple[datetime, date | None, Placement]] = {}

    def candidates(
        self, keys: Sequence[str], since: datetime, until: datetime, *, latest_first: bool = False
    ) -> list[Candidate]:
        found = []
        for key in keys:
            for sid, when, signature, event in self._by_key.get(key, ()):
                if since <= when <= until:
                    first, effective, started = self._stories[sid]
                    found.append(
                        Candidate(
                            sid,
                            key,
                            when,
                            signature,
                            event,
                            first,
                            effective,
                            started.parent_id,
                            started.change,
                        )
                    )
        return sorted(found, key=lambda c: c.published, reverse=latest_first)

    def add(self, story_id: str, keys: StoryKeys, published: datetime, placement: Placement) -> None:
        first, effective, started = self._stories.get(story_id, (published, None, placement))
        self._stories[story_id] = (min(first, published), effective or keys.effective, started)
        for key in keys.keys:
            self._by_key.setdefault(key, []).append((story_id, published, keys.signature, keys.event))
