"""The restriction tracker: what is restricted where, for whom, since when, and on whose report.

Three sources of events feed one pure derivation (``derive.build``): the shipped history
(``history.toml``: known events since 2023, so a fresh install is not empty), the operator's
``[[tracker.events]]`` in ``config.toml``, and the stored stories. Reading the stories is the only
I/O; ``current`` reads them incrementally (``live``).
"""

from __future__ import annotations

from .derive import DUPLICATE_WINDOW, build
from .entries import EntryError, config_events, load_history, parse_entries
from .live import current
from .model import ACTIONS, AUDIENCE_LABELS, STATUSES, Change, Event, Record
from .query import (
    Filter,
    UnknownName,
    label,
    resolve,
    resolve_provider,
    resolve_region,
    select,
    vocabulary_for,
)
from .stories import story_events

__all__ = [
    "ACTIONS",
    "AUDIENCE_LABELS",
    "DUPLICATE_WINDOW",
    "STATUSES",
    "Change",
    "EntryError",
    "Event",
    "Filter",
    "Record",
    "UnknownName",
    "build",
    "config_events",
    "current",
    "label",
    "load_history",
    "parse_entries",
    "resolve",
    "resolve_provider",
    "resolve_region",
    "select",
    "story_events",
    "vocabulary_for",
]
