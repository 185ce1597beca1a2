"""Per-source poll state: conditional-GET validators, last poll and success, failures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

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
        rows = conn.execute(select(sources).where(sources.c.name.in_(names))).mappings()
        return {r["name"]: SourceState(**r) for r in rows}


def polled_since(engine: Engine, since: datetime) -> dict[str, SourceState]:
    """The states of sources polled at or after ``since``: what a scheduler needs to catch up."""
    with engine.connect() as conn:
        rows = conn.execute(select(sources).where(sources.c.last_poll >= since)).mappings()
        return {r["name"]: SourceState(**r) for r in rows}


def _upsert(engine: Engine, name: str, **values) -> None:
    with engine.begin() as conn:
        updated = conn.execute(sources.update().where(sources.c.name == name).values(**values)).rowcount
        if not updated:
            conn.execute(sources.insert().values(name=name, **{"failures": 0, **values}))


def record_success(
    engine: Engine,
    name: str,
    etag: str | None,
    last_modified: str | None,
    keep_validators: bool = False,
    article_failures: Sequence[str] = (),
) -> None:
    """A poll that worked; ``keep_validators`` for a 304, which sends no new ETag. The articles that
    failed are counted, the first one's reason kept."""
    now = utcnow()
    values = {
        "last_poll": now,
        "last_success": now,
        "failures": 0,
        "last_error": article_failures[0][:500] if article_failures else None,
        "article_failures": len(article_failures),
    }
    if not keep_validators:
        values |= {"etag": etag, "last_modified": last_modified}
    _upsert(engine, name, **values)


def record_failure(engine: Engine, name: str, error: str) -> None:
    state = get(engine, name)
    _upsert(engine, name, last_poll=utcnow(), failures=state.failures + 1, last_error=error[:500])
