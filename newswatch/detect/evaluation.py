"""Scoring detection against a labeled corpus: used by the test floors and by bench/classify.

Besides relevance and tags, the corpus is replayed in publication order through story assignment
(``MemoryIndex``), as a subscriber of everything would live it: which reports join which story, and
which alerts that subscriber gets. The same replay with the labeled tags instead of the detector's
(the oracle) tells join-logic errors from detection errors.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ..models import Detection, Tags
from .classifier import Classifier
from .pipeline import Detector, keys_for
from .stories import WINDOW, MemoryIndex, StoryKeys, assign
from .vocabulary import build

TAG_KINDS = ("providers", "services", "regions", "actions", "audience")
PAIR_SCOPES = ("same language", "cross-language")


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add_sets(self, predicted: set, gold: set) -> None:
        self.tp += len(predicted & gold)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)


@dataclass
class Alerts:
    """The alerts a subscriber of everything gets, each counted once by what set it off: the first
    alert of a real event, a repeat (its event already had one), off-topic (set off by a report
    labeled not relevant), or a roundup's (a relevant report of several events at once)."""

    sent: int = 0
    repeats: int = 0
    off_topic: int = 0
    roundups: int = 0
    events: int = 0  # real events in the corpus
    events_alerted: int = 0
    updates: int = 0  # events that change the status of an earlier one (``update_of``)
    updates_named: int = 0  # ... whose first alert names a story of the earlier event

    @property
    def first(self) -> int:
        return self.sent - self.repeats - self.off_topic - self.roundups

    @property
    def precision(self) -> float:
        """First alerts of real events ÷ all alerts."""
        return self.first / self.sent if self.sent else 1.0

    @property
    def per_event(self) -> float:
        return self.sent / self.events if self.events else 0.0


@dataclass
class Stories:
    """Story grouping scored on pairs of reports, and the alerts it leads to."""

    pairs: dict[str, Score] = field(default_factory=lambda: {s: Score() for s in PAIR_SCOPES})
    alerts: Alerts = field(default_factory=Alerts)
    errors: list[str] = field(default_factory=list)


@dataclass
class Report:
    positives: int = 0
    relevance: Score = field(default_factory=Score)
    tags: dict[str, Score] = field(default_factory=lambda: {k: Score() for k in TAG_KINDS})
    effective: Score = field(default_factory=Score)  # the effective date, on corpora that label it
    stories: dict[str, Score] = field(default_factory=lambda: {s: Score() for s in PAIR_SCOPES})
    alerts: Alerts = field(default_factory=Alerts)
    oracle: Stories = field(default_factory=Stories)  # the same replay with the labeled tags
    errors: list[str] = field(default_factory=list)


def load_corpus(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_corpora(paths: list[Path]) -> list[dict[str, Any]]:
    """Several files scored as one corpus (a split written in parts: ``tune-a``, ``tune-b``)."""
    return [item for path in paths for item in load_corpus(path)]


def _published(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["published"].replace("Z", "+00:00")).astimezone(UTC)


def _dates(value: date | str | None) -> set[str]:
    return set() if value is None else {value if isinstance(value, str) else value.isoformat()}


def evaluate(items: list[dict[str, Any]], detector: Detector | None = None) -> Report:
    detector = detector or Detector(Classifier(build()))
    report = Report()
    detected, labeled = [], []
    for item in sorted(items, key=_published):
        detection, keys = detector.analyze(item["title"], item["text"], published=_published(item))
        detected.append((item, detection, keys))
        gold_detection = _labeled(item, detection)
        labeled.append((item, gold_detection, keys_for(item["title"], item["text"], gold_detection)))
        gold = bool(item["relevant"])
        report.positives += gold
        report.relevance.add_sets(
            {item["id"]} if detection.relevant else set(), {item["id"]} if gold else set()
        )
        for kind in TAG_KINDS:
            if kind not in item["tags"]:
                continue  # the older corpora label no audience
            predicted = set(getattr(detection.tags, kind))
            expected = set(item["tags"][kind])
            report.tags[kind].add_sets(predicted, expected)
            if predicted != expected and kind in ("providers", "regions") and (gold or detection.relevant):
                report.errors.append(
                    f"{item['id']} {kind}: got {sorted(predicted)} want {sorted(expected)} | {item['title']}"
                )
        if "effective" in item:
            report.effective.add_sets(_dates(detection.effective), _dates(item["effective"]))
        if detection.relevant != gold:
            report.errors.append(
                f"{item['id']} {'FP' if detection.relevant else 'FN'} {item['kind']}"
                f" score={detection.score} | {item['title']}"
            )
    stories = score_stories(detected)
    report.stories, report.alerts = stories.pairs, stories.alerts
    report.errors.extend(stories.errors)
    report.oracle = score_stories(labeled)
    return report


def _labeled(item: dict[str, Any], detected: Detection) -> Detection:
    """The item as its labels say it should be detected; places (unlabeled) as detected."""
    effective = item.get("effective")
    return Detection(
        relevant=bool(item["relevant"]),
        score=1.0 if item["relevant"] else 0.0,
        tags=Tags.from_dict(item["tags"]),
        places=detected.places,
        effective=date.fromisoformat(effective) if effective else None,
    )


def score_stories(analyzed: Iterable[tuple[dict[str, Any], Detection, StoryKeys]]) -> Stories:
    """Replay reports (in publication order) through story assignment and score the outcome."""
    result = Stories()
    index = MemoryIndex()
    story_of: dict[str, str] = {}
    members: dict[str, list[dict[str, Any]]] = {}
    silent: set[str] = set()  # new stories that told nothing new: never alerted
    alerted_stories: set[str] = set()
    alerted_events: set[str] = set()
    items = []
    for item, detection, keys in analyzed:
        items.append(item)
        story, placement = assign(index, keys, _published(item), item["id"])
        story_of[item["id"]] = story
        if story not in members and not placement.alert:
            silent.add(story)
        members.setdefault(story, []).append(item)
        if detection.kept and story not in alerted_stories and story not in silent:
            alerted_stories.add(story)
            parent = [i["group"] for i in members.get(placement.parent_id or "", [])]
            _count_alert(result, item, alerted_events, parent)
    events = {_event(i): i.get("update_of") for i in items}
    events.pop(None, None)
    result.alerts.events = len(events)
    result.alerts.events_alerted = len(alerted_events & set(events))
    result.errors.extend(f"event never alerted: {e}" for e in sorted(set(events) - alerted_events))
    result.alerts.updates = sum(1 for of in events.values() if of)
    _score_pairs(result, items, story_of)
    return result


def _event(item: dict[str, Any]) -> str | None:
    """The real event an item reports: its group; its own id for a relevant item reported once
    (the older corpora leave those without a group); None for near misses and roundups."""
    if not item["relevant"] or item.get("shape") == "roundup":
        return None
    return item["group"] or item["id"]


def _count_alert(result: Stories, item: dict[str, Any], alerted: set[str], parent_groups: list) -> None:
    """One alert, set off by ``item``; ``parent_groups``: the events of the story it names."""
    alerts = result.alerts
    alerts.sent += 1
    event = _event(item)
    if not item["relevant"]:
        alerts.off_topic += 1
        result.errors.append(f"off-topic alert: {item['id']} | {item['title']}")
    elif event is None:
        alerts.roundups += 1
        result.errors.append(f"roundup alert: {item['id']} | {item['title']}")
    elif event in alerted:
        alerts.repeats += 1
        result.errors.append(f"repeat alert: {item['id']} ({event}) | {item['title']}")
    elif item.get("update_of"):
        if item["update_of"] in parent_groups:
            alerts.updates_named += 1
        else:
            result.errors.append(f"status change not named: {item['id']} ({event}) | {item['title']}")
    if event:
        alerted.add(event)


def _score_pairs(result: Stories, items: list[dict[str, Any]], story_of: dict[str, str]) -> None:
    """Pairs of reports: joined right, falsely joined (different or no events), or missed (reports
    of one real event, both within ``WINDOW`` of its first report, left apart). Reports of one near
    miss (``g-neg-…``) never alert, so whether they join is not scored; joining them to anything else
    still counts as a false join."""
    first: dict[str, datetime] = {}
    for item in items:  # in publication order
        if item["group"]:
            first.setdefault(item["group"], _published(item))
    for a, b in itertools.combinations(items, 2):
        same_gold = a["group"] is not None and a["group"] == b["group"]
        if same_gold and not a["relevant"]:
            continue
        same_predicted = story_of[a["id"]] == story_of[b["id"]]
        score = result.pairs["same language" if a["lang"] == b["lang"] else "cross-language"]
        if same_gold and same_predicted:
            score.tp += 1
        elif same_predicted:
            score.fp += 1
            result.errors.append(f"false join: {a['id']} + {b['id']} | {a['title']} | {b['title']}")
        elif same_gold and all(_published(x) - first[x["group"]] <= WINDOW for x in (a, b)):
            score.fn += 1
            result.errors.append(f"missed join: {a['id']} + {b['id']} | {a['title']} | {b['title']}")
