"""Alert messages in Telegram's HTML mode: every piece of text escaped, never over the limit."""

from __future__ import annotations

import html
import re

from newswatch.storage.stories import Story

TELEGRAM_TEXT_LIMIT = 4096
MAX_OUTLETS_SHOWN = 5
_SENTENCE = re.compile(r"(?<=[。！？!?])|(?<=\.)\s+")
_ICONS = {"lift": "✅", "watched": "🔎"}


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


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


def render_alert(story: Story) -> str:
    """The alert for a story, with its other outlets as "also reported by"."""
    icon = "🔎" if not story.relevant else _ICONS.get(next(iter(story.tags.actions), ""), "🚫")
    when = f"{story.published:%Y-%m-%d %H:%M} UTC"
    lines = [f"{icon} <b>{esc(clip(story.title, 300))}</b>"]
    if story.relevant:
        lines.append(f"<i>{esc(tag_line(story))}</i>")
    if story.summary:
        lines.append(esc(summary_sentences(story.summary)))
    lines.append(f"{esc(story.source)} · {when}")
    lines.append(f'<a href="{esc(story.url)}">Read the article</a>')
    others = [o for o in story.outlets[1:] if o.get("source") != story.source or o.get("url") != story.url]
    if others:
        shown = ", ".join(
            f'<a href="{esc(o["url"])}">{esc(o["source"])}</a>' for o in others[:MAX_OUTLETS_SHOWN]
        )
        more = f" and {len(others) - MAX_OUTLETS_SHOWN} more" if len(others) > MAX_OUTLETS_SHOWN else ""
        lines.append(f"Also reported by {shown}{more}")
    if story.watched:
        lines.append(f"Watched: {esc(', '.join(story.watched))}")
    text = "\n".join(lines)
    # Escaped markup is never shorter than what Telegram counts, so this bound is safe.
    return text if len(text) <= TELEGRAM_TEXT_LIMIT else text[: TELEGRAM_TEXT_LIMIT - 1].rsplit("\n", 1)[0]


def render_story_line(story: Story) -> str:
    """One line of /latest."""
    return (
        f"• <b>{esc(clip(story.title, 200))}</b> — <i>{esc(tag_line(story))}</i> "
        f'({esc(story.source)}, {story.published:%m-%d %H:%M}) <a href="{esc(story.url)}">link</a>'
    )
