"""Alert messages in Telegram's HTML mode: every piece of text escaped, never over the limit.

Telegram counts a message's length in UTF-16 code units of the text left after entity parsing
(an emoji counts two). Each field gets a budget in those units, and the budgets add up to less
than the limit, so no title, summary, outlet list or keyword list can make an alert too long.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import UTC, tzinfo

from newswatch.storage.stories import Story

TELEGRAM_TEXT_LIMIT = 4096
MAX_OUTLETS_SHOWN = 5
# Budgets in UTF-16 code units of visible text.
TITLE_MAX = 300
TAGS_MAX = 300
SUMMARY_MAX = 1200
SOURCE_MAX = 64
OUTLET_MAX = 40
WATCHED_MAX = 300
_WORST_CASE = sum(
    (
        3 + TITLE_MAX,  # icon, space, title
        TAGS_MAX,
        SUMMARY_MAX,
        SOURCE_MAX + 25,  # " · 2024-10-21 01:30 UTC"
        16,  # "Read the article"
        37 + MAX_OUTLETS_SHOWN * (OUTLET_MAX + 2),  # "Also reported by a, b and 12345 more"
        9 + WATCHED_MAX,  # "Watched: "
        6,  # line breaks
    )
)
assert _WORST_CASE < TELEGRAM_TEXT_LIMIT

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


def other_outlets(story: Story) -> list[dict]:
    """Outlets besides the one the alert links to: one entry per source, in order of arrival."""
    seen = {story.source}
    others = []
    for outlet in story.outlets:
        source = outlet.get("source") or ""
        if source and source not in seen and outlet.get("url"):
            seen.add(source)
            others.append(outlet)
    return others


def render_alert(story: Story) -> str:
    """The alert for a story, with its other outlets as "also reported by"."""
    icon = "🔎" if not story.relevant else _ICONS.get(next(iter(story.tags.actions), ""), "🚫")
    when = f"{story.published:%Y-%m-%d %H:%M} UTC"
    lines = [f"{icon} <b>{esc(clip(one_line(story.title), TITLE_MAX))}</b>"]
    if story.relevant:
        lines.append(f"<i>{esc(clip(one_line(tag_line(story)), TAGS_MAX))}</i>")
    summary = one_line(story.summary)
    if summary:
        lines.append(esc(clip(summary_sentences(summary), SUMMARY_MAX)))
    lines.append(f"{esc(clip(one_line(story.source), SOURCE_MAX))} · {when}")
    lines.append(f'<a href="{esc(story.url)}">Read the article</a>')
    others = other_outlets(story)
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


def render_story_line(story: Story, tz: tzinfo = UTC) -> str:
    """One line of /latest and of a digest, its time in the subscriber's timezone."""
    return (
        f"• <b>{esc(clip(one_line(story.title), 200))}</b> — <i>{esc(clip(tag_line(story), 100))}</i> "
        f"({esc(clip(story.source, SOURCE_MAX))}, {story.published.astimezone(tz):%m-%d %H:%M}) "
        f'<a href="{esc(story.url)}">link</a>'
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
