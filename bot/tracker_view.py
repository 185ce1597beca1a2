"""/tracker answers: records as Telegram HTML pages within the length limit, and their keyboard. Pure.

Every record is one block of bounded size — the service, region and audience; its status and since
when, with the report that set it; its earlier steps; links to its sources — so blocks pack into
pages of at most ``PAGE_LIMIT`` visible characters, and a long answer becomes pages turned with
◀ 1/3 ▶. A button's data names the page and the question (``trk:1:r:CN``), so any press can be
answered from the store as it is now: a page that no longer exists shows the last one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from newswatch.tracker import Filter, Record

from .i18n import N_, translator
from .render import (
    TELEGRAM_TEXT_LIMIT,
    audience_label,
    clip,
    esc,
    flag,
    one_line,
    region_name,
    visible_length,
)

PREFIX = "trk"
CALLBACK_LIMIT = 64  # bytes: Telegram's limit for callback_data
PAGE_LIMIT = TELEGRAM_TEXT_LIMIT - 96  # headroom below the limit, as for alerts
MAX_STEPS_SHOWN = 4
MAX_SOURCES_SHOWN = 3
LABEL_MAX = 60
TITLE_MAX = 160
HOST_MAX = 40
_ICONS = {"restricted": "🚫", "partial": "⚠️", "lifted": "✅"}
_ORDER = {"restricted": 0, "partial": 1, "lifted": 2}
# TRANSLATORS: a tracker record's status: "restricted since 2024-06-25".
STATUSES = {"restricted": N_("restricted"), "partial": N_("partial"), "lifted": N_("lifted")}


def narrow(
    records: Iterable[Record], regions: Sequence[str] = (), providers: Sequence[str] = ()
) -> list[Record]:
    """The records a subscriber's choices cover: their regions and providers (empty: all)."""
    return [
        r
        for r in records
        if (not regions or r.region in regions) and (not providers or set(providers) & set(r.providers))
    ]


def render_pages(
    records: Iterable[Record], heading: str, labels: Mapping[str, str], lang: str | None = None
) -> list[str]:
    """The answer as pages: open restrictions first, then partial ones, then lifts; newest first."""
    t = translator(lang)
    ordered = sorted(records, key=lambda r: (_ORDER[r.status], -r.since.toordinal(), r.region, r.subject))
    head = f"<b>{esc(clip(one_line(heading), 200))}</b>"
    if not ordered:
        nothing = t.gettext("Nothing tracked matches.")
        return [f"{head}\n{esc(nothing)}"]
    count = len(ordered)
    head += " — " + esc(t.ngettext("{count} record", "{count} records", count).format(count=count))
    pages: list[list[str]] = [[]]
    used = visible_length(head)
    for block in (render_record(r, labels, lang) for r in ordered):
        size = visible_length(block) + 2
        if pages[-1] and used + size > PAGE_LIMIT:
            pages.append([])
            used = visible_length(head)
        pages[-1].append(block)
        used += size
    return ["\n\n".join([head, *blocks]) for blocks in pages]


def render_record(record: Record, labels: Mapping[str, str], lang: str | None = None) -> str:
    """One record's block (at most about 1,000 characters, whatever the titles and URLs); the
    subject, region code and titles as they are, our words in ``lang``."""
    t = translator(lang)
    name = esc(clip(one_line(labels.get(record.subject, record.subject)), LABEL_MAX))
    where = f"{flag(record.region)} {esc(region_name(record.region, t))}"
    lines = [f"{_ICONS[record.status]} <b>{name}</b> · {where} · {esc(audience_label(record.audience, t))}"]
    status = f"<b>{esc(t.gettext(STATUSES[record.status]))}</b>"
    when = t.gettext("{status} since {day}").format(status=status, day=record.since)
    if record.effective and record.effective != record.since:
        when += esc(t.gettext(" (effective {day})").format(day=record.effective))
    title = one_line(record.history[-1].event.title)
    lines.append(f"{when} — <i>{esc(clip(title, TITLE_MAX))}</i>")
    if len(record.history) > 1:
        steps = record.history[-MAX_STEPS_SHOWN:]
        shown = " → ".join(_link(c.event.url, f"{c.on} {t.gettext(STATUSES[c.status])}") for c in steps)
        lines.append(("… → " if len(record.history) > len(steps) else "") + shown)
    hosts: dict[str, str] = {}
    for event in reversed(record.current):  # the newest reports first
        host = (urlsplit(event.url).hostname or "").removeprefix("www.")
        if host and host not in hosts and len(hosts) < MAX_SOURCES_SHOWN:
            hosts[host] = event.url
    more = len(record.current) - len(hosts)
    sources = ", ".join(_link(url, clip(host, HOST_MAX)) for host, url in hosts.items())
    lines.append(t.gettext("Sources: {sources}").format(sources=sources) + (f" +{more}" if more > 0 else ""))
    return "\n".join(lines)


def _link(url: str, text: str) -> str:
    return f'<a href="{esc(url)}">{esc(text)}</a>'


# ------------------------------------------------------------------------------------------ pages


def keyboard(page: int, pages: int, question: Filter) -> InlineKeyboardMarkup | None:
    """◀ 2/3 ▶ for a paginated answer; None when it fits on one page."""
    if pages <= 1:
        return None
    buttons = []
    if page > 0:
        buttons.append(InlineKeyboardButton("◀", callback_data=callback_data(page - 1, question)))
    buttons.append(InlineKeyboardButton(f"{page + 1}/{pages}", callback_data=callback_data(page, question)))
    if page < pages - 1:
        buttons.append(InlineKeyboardButton("▶", callback_data=callback_data(page + 1, question)))
    return InlineKeyboardMarkup([buttons])


def callback_data(page: int, question: Filter) -> str:
    """``trk:PAGE:`` (the subscriber's choices), ``trk:PAGE:r:CODE`` or ``trk:PAGE:p:NAME``; a name
    too long for Telegram's 64 bytes travels as ``h:`` and a digest of it."""
    if question.region:
        return f"{PREFIX}:{page}:r:{question.region}"
    if question.provider:
        data = f"{PREFIX}:{page}:p:{question.provider}"
        if len(data.encode()) <= CALLBACK_LIMIT:
            return data
        return f"{PREFIX}:{page}:h:{digest(question.provider)}"
    return f"{PREFIX}:{page}:"


def digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:20]


def parse_callback(data: str | None) -> tuple[int, str, str] | None:
    """(page, kind, value) of a tracker button — kind "" (choices), "r", "p" or "h" — or None for
    data no tracker button carries."""
    prefix, _, rest = (data or "").partition(":")
    page, _, question = rest.partition(":")
    if prefix != PREFIX or not page.isascii() or not page.isdigit() or len(page) > 3:
        return None
    kind, _, value = question.partition(":")
    if (kind, value) != ("", "") and (kind not in ("r", "p", "h") or not value):
        return None
    return int(page), kind, value
