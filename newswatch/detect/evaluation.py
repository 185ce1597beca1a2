"""Scoring detection against a labeled corpus: used by the test floors and by bench/classify."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from .classifier import Classifier
from .pipeline import Detector
from .stories import MemoryIndex, assign
from .vocabulary import build

TAG_KINDS = ("providers", "services", "regions", "actions", "audience")


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
class Report:
    positives: int = 0
    relevance: Score = field(default_factory=Score)
    tags: dict[str, Score] = field(default_factory=lambda: {k: Score() for k in TAG_KINDS})
    effective: Score = field(default_factory=Score)  # the effective date, on corpora that label it
    stories: dict[str, Score] = field(
        default_factory=lambda: {"same language": Score(), "cross-language": Score()}
    )
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
    index = MemoryIndex()
    story_of: dict[str, str] = {}
    for item in sorted(items, key=_published):
        detection, keys = detector.analyze(item["title"], item["text"], published=_published(item))
        story_of[item["id"]] = assign(index, keys, _published(item), item["id"])
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
    for a, b in itertools.combinations(items, 2):
        same_gold = a["group"] is not None and a["group"] == b["group"]
        same_predicted = story_of[a["id"]] == story_of[b["id"]]
        scope = "same language" if a["lang"] == b["lang"] else "cross-language"
        score = report.stories[scope]
        if same_gold and same_predicted:
            score.tp += 1
        elif same_predicted:
            score.fp += 1
            report.errors.append(f"false join: {a['id']} + {b['id']} | {a['title']} | {b['title']}")
        elif same_gold:
            score.fn += 1
    return report
