"""The timeline chart as server-rendered SVG: one row per record, a bar for each stretch of time it
was restricted (or partly so) up to its lifting, a marker for each story.

Pure: plain data in, markup out, every text and URL escaped. No script and no inline style, so
the page keeps its strict Content-Security-Policy; colours come from classes in ``style.css``, and
the tooltips are SVG ``<title>`` elements the browser shows by itself.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import urlsplit

from markupsafe import Markup

LABEL_WIDTH = 260.0
ROW_HEIGHT = 24.0
AXIS_HEIGHT = 28.0
BAR_HEIGHT = 12.0
MARK_RADIUS = 5.0
RIGHT_PAD = 16.0
LABEL_CHARS = 36


@dataclass(frozen=True)
class Span:
    """A stretch of time with one status; ``end`` None: still so now."""

    start: datetime
    end: datetime | None
    status: str  # "restricted" | "partial"


@dataclass(frozen=True)
class Mark:
    """A story on the timeline."""

    when: datetime
    title: str
    href: str
    kind: str  # "restricted" | "partial" | "lifted": what the story said


@dataclass(frozen=True)
class Row:
    label: str
    href: str  # the record's history
    status: str  # its current status: "restricted" | "partial" | "lifted"
    spans: tuple[Span, ...]
    marks: tuple[Mark, ...]


def _esc(value: object) -> str:
    return escape(str(value), quote=True)


def safe_href(url: str) -> str:
    """``url`` when it is http(s) or relative to this page, else "#": a feed's ``javascript:`` link
    must not become a link here (the CSP would block it too; this does not rely on that)."""
    url = url.strip()
    if any(ord(c) < 0x20 for c in url) or url.startswith("//"):
        return "#"
    return url if urlsplit(url).scheme.lower() in ("", "http", "https") else "#"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _add_months(when: datetime, months: int) -> datetime:
    month = when.month - 1 + months
    year, month = when.year + month // 12, month % 12 + 1
    return when.replace(year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1]))


_STEPS: tuple[tuple[str, int], ...] = (
    ("day", 1),
    ("day", 2),
    ("day", 7),
    ("day", 14),
    ("month", 1),
    ("month", 2),
    ("month", 3),
    ("month", 6),
    ("month", 12),
    ("month", 24),
    ("month", 60),
)


def ticks(lo: datetime, hi: datetime, most: int = 8) -> list[tuple[datetime, str]]:
    """Round dates between ``lo`` and ``hi`` (at most ``most``), each with its label."""
    days = max((hi - lo).total_seconds() / 86400, 1e-9)
    for unit, size in _STEPS:
        approx = size if unit == "day" else size * 30.44
        if days / approx <= most:
            break
    if unit == "day":
        first = lo.replace(hour=0, minute=0, second=0, microsecond=0)
        label = "%d %b" if size < 7 or days < 120 else "%d %b %Y"
    else:
        first = lo.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        first = _add_months(first, -((first.month - 1) % size)) if size <= 12 else first.replace(month=1)
        label = "%Y" if size >= 12 else "%b %Y"
    found, when = [], first
    while when <= hi:
        if when >= lo:
            found.append((when, when.strftime(label)))
        when = when + timedelta(days=size) if unit == "day" else _add_months(when, size)
    return found


def _overlapping(
    marks: Sequence[Mark], x: Callable[[datetime], float]
) -> dict[tuple[float, str], list[Mark]]:
    """Markers of one kind that would cover each other drawn as one, so that a record reported by
    hundreds of stories stays a few hundred elements: {(x, kind): the marks there, oldest first}."""
    groups: dict[tuple[float, str], list[Mark]] = {}
    for mark in sorted(marks, key=lambda m: m.when):
        slot = round(x(mark.when) / (2 * MARK_RADIUS)) * 2 * MARK_RADIUS  # a marker's width apart
        groups.setdefault((slot, mark.kind), []).append(mark)
    return groups


def timeline(rows: Sequence[Row], now: datetime | None = None, width: float = 960.0) -> Markup:
    """The chart as an ``<svg>`` element; an empty-state paragraph when there is nothing to draw."""
    if not rows:
        return Markup('<p class="empty">No restrictions tracked yet.</p>')
    now = now or datetime.now(UTC)
    times = [t for r in rows for t in (*(s.start for s in r.spans), *(m.when for m in r.marks))]
    lo, hi = min([*times, now]), now
    pad = max((hi - lo) * 0.03, timedelta(days=1))
    lo, hi = lo - pad, hi + pad
    plot = width - LABEL_WIDTH - RIGHT_PAD
    scale = plot / (hi - lo).total_seconds()

    def x(when: datetime) -> float:
        return LABEL_WIDTH + (min(max(when, lo), hi) - lo).total_seconds() * scale

    height = AXIS_HEIGHT + ROW_HEIGHT * len(rows) + 4
    out = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:g} {height:g}" '
        f'width="{width:g}" height="{height:g}" role="img" '
        f'aria-label="Timeline of {len(rows)} tracked restrictions">'
    ]
    for when, text in ticks(lo, hi):
        if (tx := x(when)) > width - RIGHT_PAD - 12:  # its label would be cut off at the edge
            continue
        out.append(
            f'<line class="grid" x1="{tx:.1f}" y1="{AXIS_HEIGHT - 6:g}" x2="{tx:.1f}" y2="{height:g}"/>'
            f'<text class="tick" x="{tx:.1f}" y="{AXIS_HEIGHT - 10:g}">{_esc(text)}</text>'
        )
    nx = x(now)
    out.append(f'<line class="now" x1="{nx:.1f}" y1="{AXIS_HEIGHT - 6:g}" x2="{nx:.1f}" y2="{height:g}"/>')
    for i, row in enumerate(rows):
        top = AXIS_HEIGHT + i * ROW_HEIGHT
        mid = top + ROW_HEIGHT / 2
        status = _esc(row.status)
        out.append(f'<g class="row {status}" data-status="{status}" data-label="{_esc(row.label)}">')
        href = _esc(safe_href(row.href))
        out.append(
            f'<a href="{href}"><text class="label" x="{LABEL_WIDTH - 8:g}" y="{mid + 4:g}">'
            f"<title>{_esc(row.label)}</title>{_esc(_clip(row.label, LABEL_CHARS))}</text></a>"
        )
        for span in row.spans:
            x1, x2 = x(span.start), x(span.end or now)
            until = f"{span.end:%Y-%m-%d}" if span.end else "now"
            out.append(
                f'<rect class="bar {_esc(span.status)}" x="{x1:.1f}" y="{mid - BAR_HEIGHT / 2:g}" '
                f'width="{max(x2 - x1, 2):.1f}" height="{BAR_HEIGHT:g}" rx="2">'
                f"<title>{_esc(span.status)} {span.start:%Y-%m-%d} – {until}</title></rect>"
            )
        for (cx, kind), group in _overlapping(row.marks, x).items():
            first = group[0]
            more = f" (and {len(group) - 1} more)" if len(group) > 1 else ""
            out.append(
                f'<a href="{_esc(safe_href(first.href))}"><circle class="mark {_esc(kind)}" cx="{cx:.1f}" '
                f'cy="{mid:g}" r="{MARK_RADIUS:g}"><title>{first.when:%Y-%m-%d} {_esc(first.title)}{more}'
                "</title></circle></a>"
            )
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))
