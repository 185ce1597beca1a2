"""The detector the crawl and ``newswatch classify`` use: classification plus story keys."""

from __future__ import annotations

from datetime import datetime

from ..config import Config, ConfigError
from ..models import Detection
from .classifier import Classifier
from .keywords import KeywordMatcher
from .stories import StoryKeys, story_keys
from .text import Lead
from .vocabulary import VocabularyError, build


class Detector:
    def __init__(self, classifier: Classifier):
        self.classifier = classifier

    @classmethod
    def from_config(cls, config: Config) -> Detector:
        """ConfigError (naming the file) for a bad ``[vocabulary]`` entry."""
        try:
            vocabulary = build(config.vocabulary)
        except VocabularyError as exc:
            raise ConfigError(f"{config.path}: {exc}") from None
        return cls(
            Classifier(
                vocabulary,
                KeywordMatcher(config.watch.keywords),
                KeywordMatcher(config.watch.exclude),
            )
        )

    def analyze(
        self, title: str, text: str, published: datetime | None = None
    ) -> tuple[Detection, StoryKeys]:
        """``published`` (UTC) dates the effective day when the text gives it without a year. The
        headline and opening are normalized once, for the classifier and the story keys."""
        lead = Lead.of(title, text)
        detection = self.classifier.read(lead, text, published)
        return detection, story_keys(lead.text, detection)


def keys_for(title: str, text: str, detection: Detection) -> StoryKeys:
    """The story keys of an article as detected (or, for scoring, as labeled)."""
    return story_keys(Lead.of(title, text).text, detection)
