"""Curated events: the shipped ``history.toml`` and the operator's ``[[tracker.events]]``.

Both use one entry shape, so an operator can copy a shipped entry into ``config.toml``::

    [[tracker.events]]
    service = "openai api"          # or provider = "openai": exactly one of the two
    regions = ["CN", "HK"]
    audience = "developers"         # optional: one of newswatch.models.AUDIENCES; absent = everyone
    action = "block"                # block | ban | suspend | discontinue | restrict | lift | partial
    effective = 2024-07-09          # when it took or takes effect
    reported = 2024-06-25           # optional: when it was announced (default: effective)
    title = "OpenAI cuts off API traffic from mainland China and Hong Kong"
    url = "https://..."

Names are checked against the vocabulary, so a misspelt region is refused rather than never matched.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from ..config import Config, ConfigError
from ..detect.vocabulary import ACTIONS as DETECTED_ACTIONS
from ..detect.vocabulary import Vocabulary
from ..models import AUDIENCES
from .model import Event
from .query import vocabulary_for

ENTRY_KEYS = ("service", "provider", "regions", "audience", "action", "effective", "reported", "title", "url")
# The detection verbs an entry may use, and what each does to a status.
ENTRY_ACTIONS = {a: "lift" if a == "lift" else "restrict" for a in DETECTED_ACTIONS} | {"partial": "partial"}
EARLIEST = date(2020, 1, 1)  # before any AI service discussed here existed
LATEST_AHEAD = timedelta(days=2 * 366)  # an announced change may take effect later, not years later
MAX_TITLE = 200

_Fail = Callable[[str, str], "EntryError"]


class EntryError(ValueError):
    """A bad entry: ``where`` is "[2].regions" (index, then key), ``problem`` what is wrong."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where, self.problem = where, problem


def parse_entries(entries: object, vocabulary: Vocabulary, origin: str) -> list[Event]:
    """The events of a list of entry tables; EntryError for the first bad one."""
    if not isinstance(entries, list):
        raise EntryError("", "must be an array of tables ([[...events]])")
    return [_event(i, entry, vocabulary, origin) for i, entry in enumerate(entries)]


@lru_cache(maxsize=1)
def _history() -> tuple[Event, ...]:
    text = resources.files(__package__).joinpath("history.toml").read_text(encoding="utf-8")
    try:
        return tuple(parse_entries(tomllib.loads(text).get("events"), vocabulary_for(None), "history"))
    except EntryError as exc:  # the shipped file is tested; this names the entry if an edit broke it
        raise ValueError(f"history.toml: events{exc.where}: {exc.problem}") from None


def load_history() -> list[Event]:
    """The known events shipped with newswatch, so that a fresh install already has a tracker."""
    return list(_history())


def config_events(config: Config) -> list[Event]:
    """The operator's ``[[tracker.events]]``; ConfigError (one line naming the entry) when one is bad."""
    try:
        return parse_entries(list(config.tracker.events), vocabulary_for(config), "config")
    except EntryError as exc:
        raise ConfigError(f"{config.path}: tracker.events{exc.where}: {exc.problem}") from None


def _event(index: int, entry: object, vocabulary: Vocabulary, origin: str) -> Event:
    def fail(key: str, problem: str) -> EntryError:
        return EntryError(f"[{index}].{key}" if key else f"[{index}]", problem)

    if not isinstance(entry, dict):
        raise fail("", "must be a table")
    for key in entry:
        if key not in ENTRY_KEYS:
            raise fail(key, f"unknown key (allowed: {', '.join(ENTRY_KEYS)})")
    for key in ("regions", "action", "effective", "title", "url"):
        if key not in entry:
            raise fail(key, "is required")
    if ("service" in entry) == ("provider" in entry):
        raise fail("service", "give exactly one of service or provider")
    if "service" in entry:
        subject = _string(entry, "service", fail)
        if subject not in vocabulary.service_providers:
            raise fail("service", f"unknown service {subject!r}")
        providers = vocabulary.service_providers[subject]
    else:
        subject = _string(entry, "provider", fail)
        if subject not in vocabulary.provider_is_ai:
            raise fail("provider", f"unknown provider {subject!r}")
        providers = (subject,)
    regions = entry["regions"]
    if not isinstance(regions, list) or not regions or not all(isinstance(r, str) for r in regions):
        raise fail("regions", 'must be a non-empty list of region codes like ["CN", "HK"]')
    for region in regions:
        if region not in vocabulary.regions:
            raise fail("regions", f"unknown region {region!r}")
    audience = entry.get("audience")
    if audience is not None and audience not in AUDIENCES:
        raise fail("audience", f"unknown audience {audience!r} (allowed: {', '.join(AUDIENCES)})")
    action = entry["action"]
    if action not in ENTRY_ACTIONS:
        raise fail("action", f"unknown action {action!r} (allowed: {', '.join(ENTRY_ACTIONS)})")
    effective = _date(entry, "effective", fail)
    reported = _date(entry, "reported", fail) if "reported" in entry else effective
    title = _string(entry, "title", fail).strip()
    if len(title) > MAX_TITLE:
        raise fail("title", f"must be at most {MAX_TITLE} characters")
    url = _string(entry, "url", fail)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise fail("url", f"must be an absolute http(s) URL (got {url!r})")
    return Event(
        subject=subject,
        providers=tuple(providers),
        regions=tuple(sorted(set(regions))),
        audience=audience,
        action=ENTRY_ACTIONS[action],
        effective=effective,
        reported=datetime.combine(reported, time(), UTC),
        title=title,
        url=url,
        origin=origin,
    )


def _string(entry: dict[str, Any], key: str, fail: _Fail) -> str:
    value = entry[key]
    if not isinstance(value, str) or not value.strip():
        raise fail(key, "must be a non-empty string")
    return value


def _date(entry: dict[str, Any], key: str, fail: _Fail) -> date:
    value = entry[key]
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise fail(key, f"must be a date like 2024-07-09 (got {value!r})") from None
    if not isinstance(value, date) or isinstance(value, datetime):
        raise fail(key, f"must be a date like 2024-07-09 (got {value!r})")
    if not EARLIEST <= value <= date.today() + LATEST_AHEAD:
        raise fail(key, f"{value} is not a plausible date for this tracker")
    return value
