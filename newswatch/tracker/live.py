"""The tracker of a running store: stories read incrementally, records rebuilt only on a change.

The bot and the web pages ask for the tracker on every request. Each ask is one query, for the
stories updated since the last ask (usually none); the records are rebuilt only when a story, the
config's events or the vocabulary changed.
"""

from __future__ import annotations

import threading
import weakref
from datetime import datetime

from sqlalchemy import Engine

from ..config import Config
from ..detect.vocabulary import Vocabulary
from .derive import build
from .entries import config_events, load_history
from .model import Event, Record
from .query import vocabulary_for
from .stories import events_of, story_rows


def current(engine: Engine, config: Config) -> list[Record]:
    """Every record as of now: history, the config's events and the stored stories together."""
    curated = (*load_history(), *config_events(config))
    with _lock:
        live = _live.get(engine)
        if live is None:
            live = _live[engine] = _Live()
    return live.records(engine, vocabulary_for(config), curated)


class _Live:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.vocabulary: Vocabulary | None = None
        self.events: dict[str, tuple[Event, ...]] = {}  # by story id
        self.seen: datetime | None = None  # the latest ``updated`` read
        self.curated: tuple[Event, ...] = ()
        self.built: list[Record] | None = None

    def records(self, engine: Engine, vocabulary: Vocabulary, curated: tuple[Event, ...]) -> list[Record]:
        with self.lock:
            if vocabulary is not self.vocabulary:  # the events of a story depend on the vocabulary
                self.vocabulary, self.events, self.seen, self.built = vocabulary, {}, None, None
            changed = False
            for row in story_rows(engine, self.seen):
                events = tuple(events_of(row, vocabulary))
                if self.events.get(row["id"]) != events:  # the last rows seen come back: unchanged
                    self.events[row["id"]] = events
                    changed = True
                self.seen = max(self.seen or row["updated"], row["updated"])
            if changed or curated != self.curated or self.built is None:
                self.built = build([*curated, *(e for events in self.events.values() for e in events)])
                self.curated = curated
            return list(self.built)


_lock = threading.Lock()
_live: weakref.WeakKeyDictionary[Engine, _Live] = weakref.WeakKeyDictionary()
