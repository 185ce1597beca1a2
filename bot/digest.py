"""Digests: the alerts held for one subscriber, in as few messages as Telegram takes. Pure.

A heading in the subscriber's language ("3 alerts while you were away", "Your daily digest, 2 Dec"),
then one line per story —
title, tags, source and time in the subscriber's timezone, link — everything escaped. A digest
longer than 4,096 characters continues in a second message (a third…), each with the heading and
its number, "(2/3)"; each message is sent, and recorded, on its own.

A digest is never edited afterwards: its lines name no outlets, so "also reported by" has nothing to
add to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, tzinfo

from newswatch.storage.stories import Story

from .i18n import translator
from .render import TELEGRAM_TEXT_LIMIT, day, esc, render_story_line, visible_length

NUMBERED = "{heading} ({part}/{parts})"
ICONS = {"away": "🌙", "daily": "📰"}


@dataclass(frozen=True)
class Part:
    """One message of a digest and the outbox rows whose stories it shows."""

    text: str
    row_ids: tuple[int, ...]


def heading(count: int, daily: date | None, lang: str | None = None) -> str:
    """A daily digest is named by its local date; quiet hours' by how many alerts they held."""
    t = translator(lang)
    if daily is not None:
        named = t.gettext("Your daily digest, {day}").format(day=day(daily, t, year=False))
        return f"{ICONS['daily']} {named}"
    away = t.ngettext("{count} alert while you were away", "{count} alerts while you were away", count)
    return f"{ICONS['away']} " + away.format(count=count)


def render_digest(
    items: Sequence[tuple[int, Story]],
    title: str,
    tz: tzinfo,
    lang: str | None = None,
    limit: int = TELEGRAM_TEXT_LIMIT,
) -> list[Part]:
    """(row id, story) in order -> the digest's messages, each within ``limit`` UTF-16 units, each
    story led by its first report in ``lang``. Every message has room for its heading with the
    largest number a digest can have ("(999/999)")."""
    room = limit - visible_length(esc(NUMBERED.format(heading=title, part=999, parts=999))) - 1
    chunks: list[list[tuple[int, str]]] = [[]]
    used = 0
    for row_id, story in items:
        line = render_story_line(story, lang, tz)
        size = visible_length(line) + 1
        if chunks[-1] and used + size > room:
            chunks.append([])
            used = 0
        chunks[-1].append((row_id, line))
        used += size
    parts = len(chunks)
    return [
        Part(
            "\n".join([_heading_line(title, n, parts), *(line for _, line in chunk)]),
            tuple(row_id for row_id, _ in chunk),
        )
        for n, chunk in enumerate(chunks, 1)
    ]


def _heading_line(title: str, part: int, parts: int) -> str:
    numbered = NUMBERED.format(heading=title, part=part, parts=parts) if parts > 1 else title
    return f"<b>{esc(numbered)}</b>"
