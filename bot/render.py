"""Alert messages in Telegram's HTML mode: every piece of text escaped, never over the limit.

Telegram counts a message's length in UTF-16 code units of the text left after entity parsing
(an emoji counts two). Each field gets a budget in those units, and the budgets add up to less
than the limit, so no title, summary, outlet list or keyword list can make an alert too long.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, tzinfo

from newswatch.detect.stories import EFFECTIVE, EXTENDED, LIFTED
from newswatch.storage.stories import Story

TELEGRAM_TEXT_LIMIT = 4096
MAX_OUTLETS_SHOWN = 5
# Budgets in UTF-16 code units of visible text.
TITLE_MAX = 300
TAGS_MAX = 300
AUDIENCE_MAX = 150
SUMMARY_MAX = 1200
SOURCE_MAX = 64
OUTLET_MAX = 40
WATCHED_MAX = 300
PARENT_MAX = 200
_WORST_CASE = sum(
    (
        2 + max(len(f) for f in ("Update: now in effect", "Lifted", "Update: extended")),  # the frame
        3 + TITLE_MAX,  # icon, space, title
        TAGS_MAX,
        AUDIENCE_MAX,
        9 + PARENT_MAX + 14,  # "Earlier: " title " (21 Oct 2024)"
        SUMMARY_MAX,
        SOURCE_MAX + 25,  # " · 2024-10-21 01:30 UTC"
        16,  # "Read the article"
        37 + MAX_OUTLETS_SHOWN * (OUTLET_MAX + 2),  # "Also reported by a, b and 12345 more"
        9 + WATCHED_MAX,  # "Watched: "
        9,  # line breaks
    )
)
assert _WORST_CASE < TELEGRAM_TEXT_LIMIT

AUDIENCE_LABELS = {
    "consumers": "consumers",
    "developers": "developers",
    "individual-developers": "individual developers",
    "enterprises": "enterprises",
    "government-devices": "government devices",
    "ownership": "companies by ownership",
}
# A story that changes the status of an earlier one says so above its title, and names that story.
FRAMES = {EFFECTIVE: "🔄 Update: now in effect", LIFTED: "✅ Lifted", EXTENDED: "➕ Update: extended"}
_SENTENCE = re.compile(r"(?<=[。！？!?])|(?<=\.)\s+")
_TAG = re.compile(r"<[^>]*>")
_ICONS = {"lift": "✅", "watched": "🔎"}


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-16 units, "…" marking the cut."""
    if len(text) <= limit // 2 or utf16_len(text) <= limit:
        return text
    kept, used = [], 0
    for ch in text:
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > limit - 1:
            break
        kept.append(ch)
    return "".join(kept).rstrip() + "…"


def one_line(text: str) -> str:
    return " ".join(text.split())


def visible_text(markup: str) -> str:
    """The text Telegram shows for our own markup: tags removed, entities decoded, ends stripped."""
    return html.unescape(_TAG.sub("", markup)).strip()


def visible_length(markup: str) -> int:
    """Telegram's length of our own markup."""
    return utf16_len(visible_text(markup))


def summary_sentences(summary: str, max_sentences: int = 3, limit: int = 600) -> str:
    parts = [p.strip() for p in _SENTENCE.split(summary.strip()) if p and p.strip()]
    joined = ""
    for part in parts[:max_sentences]:
        candidate = f"{joined} {part}".strip() if joined and part[0].isascii() else joined + part
        if len(candidate) > limit:
            break
        joined = candidate
    return joined or clip(summary.strip(), limit)


def tag_line(story: Story) -> str:
    tags = story.tags
    who = ", ".join(tags.providers) or "—"
    if tags.services:
        who += f" ({', '.join(tags.services)})"
    return " · ".join(part for part in (who, ", ".join(tags.regions), ", ".join(tags.actions)) if part)


def day(when: date) -> str:
    return f"{when.day} {when:%b %Y}"


def audience_line(story: Story) -> str:
    """For whom and from when: "individual developers · from 21 Oct 2024"; "" when neither is known."""
    whom = ", ".join(AUDIENCE_LABELS.get(a, a) for a in story.tags.audience)
    when = f"from {day(story.effective)}" if story.effective else ""
    return " · ".join(part for part in (whom, when) if part)


@dataclass(frozen=True)
class Lead:
    """The report an alert leads with: its title, summary, source and link."""

    source: str
    url: str
    title: str
    summary: str


def first_report(story: Story) -> Lead:
    return Lead(story.source, story.url, story.title, story.summary)


def _outlet_lead(story: Story, outlet: dict) -> Lead:
    return Lead(
        outlet.get("source") or "",
        outlet["url"],
        outlet.get("title") or story.title,
        outlet.get("summary") or "",
    )


def choose_lead(story: Story, lang: str | None) -> Lead:
    """The first report in the subscriber's language (English when none was chosen), else the story's
    first report. Outlets stored before languages were kept have none, so they never lead."""
    want = lang or "en"
    if story.lang != want:
        for outlet in story.outlets:
            if outlet.get("lang") == want and outlet.get("url"):
                return _outlet_lead(story, outlet)
    return first_report(story)


def lead_at(story: Story, url: str | None) -> Lead:
    """The lead an alert was sent with, found by its link: an edit keeps it."""
    if url and url != story.url:
        for outlet in story.outlets:
            if outlet.get("url") == url:
                return _outlet_lead(story, outlet)
    return first_report(story)


def other_outlets(story: Story, lead: Lead | None = None) -> list[dict]:
    """Outlets besides the one the alert leads with: one entry per source, in order of arrival."""
    seen = {(lead or first_report(story)).source}
    others = []
    for outlet in story.outlets:
        source = outlet.get("source") or ""
        if source and source not in seen and outlet.get("url"):
            seen.add(source)
            others.append(outlet)
    return others


def render_alert(
    story: Story, lang: str | None = None, *, lead: Lead | None = None, parent: Story | None = None
) -> str:
    """The alert for a story in a subscriber's language: led by ``lead`` (by default the first
    report in ``lang``), with the other outlets as "also reported by"; a status change is framed
    as an update of ``parent``, the earlier story, named with its title, date and link."""
    lead = lead or choose_lead(story, lang)
    icon = "🔎" if not story.relevant else _ICONS.get(next(iter(story.tags.actions), ""), "🚫")
    when = f"{story.published:%Y-%m-%d %H:%M} UTC"
    lines = [FRAMES[story.change]] if story.change in FRAMES else []
    lines.append(f"{icon} <b>{esc(clip(one_line(lead.title), TITLE_MAX))}</b>")
    if story.relevant:
        lines.append(f"<i>{esc(clip(one_line(tag_line(story)), TAGS_MAX))}</i>")
        if who_when := audience_line(story):
            lines.append(f"<i>{esc(clip(who_when, AUDIENCE_MAX))}</i>")
    if parent is not None and story.change in FRAMES:
        earlier = choose_lead(parent, lang)
        lines.append(
            f'Earlier: <a href="{esc(earlier.url)}">{esc(clip(one_line(earlier.title), PARENT_MAX))}</a>'
            f" ({day(parent.published)})"
        )
    summary = one_line(lead.summary)
    if summary:
        lines.append(esc(clip(summary_sentences(summary), SUMMARY_MAX)))
    lines.append(f"{esc(clip(one_line(lead.source), SOURCE_MAX))} · {when}")
    lines.append(f'<a href="{esc(lead.url)}">Read the article</a>')
    others = other_outlets(story, lead)
    if others:
        shown = ", ".join(
            f'<a href="{esc(o["url"])}">{esc(clip(one_line(o["source"]), OUTLET_MAX))}</a>'
            for o in others[:MAX_OUTLETS_SHOWN]
        )
        more = f" and {len(others) - MAX_OUTLETS_SHOWN} more" if len(others) > MAX_OUTLETS_SHOWN else ""
        lines.append(f"Also reported by {shown}{more}")
    if story.watched:
        lines.append(f"Watched: {esc(clip(one_line(', '.join(story.watched)), WATCHED_MAX))}")
    return "\n".join(lines)


def render_story_line(story: Story, lang: str | None = None, tz: tzinfo = UTC) -> str:
    """One line of /latest and of a digest, led by the first report in ``lang``, its time in the
    subscriber's timezone."""
    lead = choose_lead(story, lang)
    return (
        f"• <b>{esc(clip(one_line(lead.title), 200))}</b> — <i>{esc(clip(tag_line(story), 100))}</i> "
        f"({esc(clip(lead.source, SOURCE_MAX))}, {story.published.astimezone(tz):%m-%d %H:%M}) "
        f'<a href="{esc(lead.url)}">link</a>'
    )


def join_within(lines: Iterable[str], limit: int = TELEGRAM_TEXT_LIMIT) -> str:
    """Whole lines of markup, as many as fit in one message; "… and N more" for the rest."""
    lines = list(lines)
    kept: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        size = visible_length(line) + (1 if kept else 0)
        rest = len(lines) - i - 1
        reserve = len(f"\n… and {rest} more") if rest else 0
        if used + size + reserve > limit:
            kept.append(f"… and {len(lines) - i} more")
            break
        kept.append(line)
        used += size
    return "\n".join(kept)
