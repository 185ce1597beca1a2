"""From tracker records to what the page draws: the provider × region matrix and the chart's rows.

Pure: records in, plain data out (the template and ``chart`` render it). A record names one region
and one or more providers (Azure OpenAI is Microsoft's and OpenAI's), so it shows in the cell of each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import urlencode

from ..tracker import AUDIENCE_LABELS, Record
from .chart import Mark, Row, Span

SEVERITY = ("restricted", "partial", "lifted")  # a cell shows the most severe of its records
_MARK_KIND = {"restrict": "restricted", "partial": "partial", "lift": "lifted"}


@dataclass(frozen=True)
class Cell:
    status: str
    records: int
    href: str


@dataclass(frozen=True)
class Matrix:
    providers: tuple[str, ...]  # most records first
    regions: tuple[str, ...]
    cells: dict[tuple[str, str], Cell]

    def cell(self, provider: str, region: str) -> Cell | None:
        return self.cells.get((provider, region))


def history_href(provider: str | None = None, region: str | None = None) -> str:
    """The page filtered to one cell (relative, so the page works under a reverse proxy's prefix)."""
    query = {k: v for k, v in (("provider", provider), ("region", region)) if v}
    return ("?" + urlencode(query) if query else "./") + "#history"


def _by_count(names: Iterable[str]) -> tuple[str, ...]:
    counts = Counter(names)
    return tuple(sorted(counts, key=lambda n: (-counts[n], n)))


def build_matrix(records: Sequence[Record]) -> Matrix:
    statuses: dict[tuple[str, str], list[str]] = {}
    for record in records:
        for provider in record.providers:
            statuses.setdefault((provider, record.region), []).append(record.status)
    cells = {
        (p, r): Cell(min(found, key=SEVERITY.index), len(found), history_href(p, r))
        for (p, r), found in statuses.items()
    }
    return Matrix(
        providers=_by_count(p for p, _ in cells),
        regions=_by_count(r for _, r in cells),
        cells=cells,
    )


def _moment(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


Names = Callable[[str], str]  # a provider or service as people write it: "openai api" -> "OpenAI API"


def record_label(record: Record, name: Names = str) -> str:
    parts = [name(record.subject), record.region]
    if record.audience:
        parts.append(AUDIENCE_LABELS.get(record.audience, record.audience))
    return " · ".join(parts)


def chart_row(record: Record, name: Names = str) -> Row:
    """Bars for each restricted or partial stretch of the record's history, up to the next change;
    a marker for each event, where it was reported."""
    spans = []
    for step, following in zip(record.history, (*record.history[1:], None), strict=True):
        if step.status != "lifted":
            end = _moment(following.on) if following else None
            spans.append(Span(_moment(step.on), end, step.status))
    marks = tuple(
        Mark(event.reported, event.title, event.url, _MARK_KIND.get(event.action, "restricted"))
        for event in record.events
    )
    href = history_href(record.providers[0] if record.providers else None, record.region)
    return Row(record_label(record, name), href, record.status, tuple(spans), marks)


def chart_rows(records: Sequence[Record], name: Names = str) -> list[Row]:
    """One row per record, the longest-standing first."""
    ordered = sorted(records, key=lambda r: (r.history[0].on, record_label(r)))
    return [chart_row(r, name) for r in ordered]
