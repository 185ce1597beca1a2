"""Per-source poll state: conditional-GET validators, last poll and success, failures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, select

from .inlists import chunks, listed
from .schema import sources, utcnow


@dataclass(frozen=True)
class SourceState:
    name: str
    etag: str | None = None
    last_modified: str | None = None
    last_poll: datetime | None = None
    last_success: datetime | None = None
    failures: int = 0
    last_error: str | None = None  # why the source failed, else why the first failed article did
    article_failures: int | None = None  # articles of the last poll that failed (the source answered)

    @property
    def status(self) -> str:
        if self.last_poll is None:
            return "never polled"
        if self.failures:
            return f"failing ({self.failures}x)"
        return f"ok, {self.article_failures} failed" if self.article_failures else "ok"


def get(engine: Engine, name: str) -> SourceState:
    with engine.connect() as conn:
        row = conn.execute(select(sources).where(sources.c.name == name)).mappings().first()
    return SourceState(**row) if row else SourceState(name)


def all_states(engine: Engine) -> dict[str, SourceState]:
    with engine.connect() as conn:
        return {r["name"]: SourceState(**r) for r in conn.execute(select(sources)).mappings()}


def states(engine: Engine, names: list[str]) -> dict[str, SourceState]:
    """The states of the named sources that have one (a source never polled has none)."""
    with engine.connect() as conn:
        named = sources.c.name.in_(listed(names, engine.dialect.name))
        rows = conn.execute(select(sources).where(named)).mappings()
        return {r["name"]: SourceState(**r) for r in rows}


def polled_since(engine: Engine, since: datetime) -> dict[str, SourceState]:
    """The states of sources polled at or after ``since``: what a scheduler needs to catch up."""
    with engine.connect() as conn:
        rows = conn.execute(select(sources).where(sources.c.last_poll >= since)).mappings()
        return {r["name"]: SourceState(**r) for r in rows}


@dataclass(frozen=True)
class Poll:
    """How one poll of a source went, to be recorded: it failed (``error``), or it worked, with new
    validators or keeping the stored ones (``keep_validators``: a 304 sends none). The articles that
    failed are counted, the first one's reason kept."""

    name: str
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    keep_validators: bool = False
    article_failures: Sequence[str] = ()


_EMPTY_ROW = {
    "etag": None,
    "last_modified": None,
    "last_poll": None,
    "last_success": None,
    "failures": 0,
    "last_error": None,
    "article_failures": None,
}
_UPDATE = sources.update().where(sources.c.name == bindparam("_name"))


def record(engine: Engine, polls: Sequence[Poll]) -> None:
    """Record the polls of a crawl in one transaction and a few statements: a crawl of hundreds of
    sources that all answered 304 costs one commit, not one per source."""
    latest = {p.name: p for p in polls}  # one poll per source
    if not latest:
        return
    now = utcnow()
    names = list(latest)
    with engine.begin() as conn:
        failures: dict[str, int] = {}
        for chunk in chunks(names):
            query = select(sources.c.name, sources.c.failures).where(sources.c.name.in_(chunk))
            failures.update((name, n) for name, n in conn.execute(query))
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}  # executemany needs one set of columns
        inserts = []
        for name, poll in latest.items():
            values = _values(poll, now, failures.get(name, 0))
            if name in failures:
                updates.setdefault(tuple(values), []).append({"_name": name, **values})
            else:
                inserts.append({**_EMPTY_ROW, "name": name, **values})
        for rows in updates.values():
            conn.execute(_UPDATE, rows)
        if inserts:
            conn.execute(sources.insert(), inserts)


def _values(poll: Poll, now: datetime, failures: int) -> dict[str, Any]:
    if poll.error is not None:
        return {"last_poll": now, "failures": failures + 1, "last_error": poll.error[:500]}
    failed = poll.article_failures
    values = {
        "last_poll": now,
        "last_success": now,
        "failures": 0,
        "last_error": failed[0][:500] if failed else None,
        "article_failures": len(failed),
    }
    if not poll.keep_validators:
        values |= {"etag": poll.etag, "last_modified": poll.last_modified}
    return values


def record_success(
    engine: Engine,
    name: str,
    etag: str | None,
    last_modified: str | None,
    keep_validators: bool = False,
    article_failures: Sequence[str] = (),
) -> None:
    """A poll that worked; ``keep_validators`` for a 304, which sends no new ETag."""
    record(engine, [Poll(name, None, etag, last_modified, keep_validators, tuple(article_failures))])


def record_failure(engine: Engine, name: str, error: str) -> None:
    record(engine, [Poll(name, error)])
