"""Digests are HTML Telegram accepts, one line per story, split into messages of at most 4096.

Pure rendering, checked with the fake Bot API's copy of Telegram's HTML parser and its UTF-16 count.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bot.digest import heading, render_digest
from bot.render import TELEGRAM_TEXT_LIMIT
from tests.fixtures.botapi import parse_html, utf16_len
from tests.test_render import NASTY, story

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shown(markup: str) -> str:
    text, _ = parse_html(markup)  # raises what Telegram would refuse
    assert utf16_len(text.strip()) <= TELEGRAM_TEXT_LIMIT
    return text.strip()


def test_the_heading_says_how_many_alerts_were_held_or_which_day_it_is() -> None:
    assert heading(3, None) == "🌙 3 alerts while you were away"
    assert heading(1, None) == "🌙 1 alert while you were away"
    assert heading(5, date(2025, 12, 2)) == "📰 Your daily digest, 2 Dec"


def test_a_digest_has_one_line_per_story_in_the_subscribers_timezone() -> None:
    items = [
        (11, story(id="s-1", title="OpenAI blocks API access in China")),
        (
            12,
            story(id="s-2", title="Gemini not in the EU", published=datetime(2025, 12, 1, 17, 5, tzinfo=UTC)),
        ),
    ]

    (part,) = render_digest(items, heading(2, None), SHANGHAI)

    lines = shown(part.text).split("\n")
    assert lines[0] == "🌙 2 alerts while you were away"
    assert lines[1].startswith(
        "• OpenAI blocks API access in China — microsoft (azure openai) · CN · discontinue"
    )
    assert "(ithome, 10-21 09:30) link" in lines[1]  # 01:30 UTC is 09:30 in Shanghai
    assert "(ithome, 12-02 01:05) link" in lines[2]  # the next day there
    assert part.row_ids == (11, 12)
    _, entities = parse_html(part.text)
    assert [e["url"] for e in entities if e["type"] == "text_link"] == [items[0][1].url, items[1][1].url]


def test_every_field_of_a_digest_is_escaped() -> None:
    (part,) = render_digest(
        [(1, story(title=NASTY, source=NASTY, url='https://x.example/?a=1&b="2"'))], NASTY, UTC
    )

    text = shown(part.text)
    assert text.startswith(NASTY.strip()) and f"• {NASTY.strip()}" in text


def test_a_long_digest_continues_in_numbered_messages_each_within_4096() -> None:
    items = [
        (n, story(id=f"s-{n}", title=f"{n:03d} " + "很长的标题😀" * 60, source="s" * 64)) for n in range(60)
    ]

    parts = render_digest(items, heading(60, date(2025, 12, 2)), SHANGHAI)

    assert len(parts) >= 3
    for number, part in enumerate(parts, 1):
        assert shown(part.text).startswith(f"📰 Your daily digest, 2 Dec ({number}/{len(parts)})\n")
    assert [i for part in parts for i in part.row_ids] == list(range(60))  # each story once, in order
    text = "\n".join(shown(p.text) for p in parts)
    assert [text.index(f"• {n:03d} ") for n in range(60)] == sorted(
        text.index(f"• {n:03d} ") for n in range(60)
    )


def test_a_digest_fills_its_messages() -> None:
    items = [(n, story(id=f"s-{n}", title=f"{n:03d} OpenAI stops its API in region {n}")) for n in range(200)]

    parts = render_digest(items, heading(200, None), UTC)

    for part in parts[:-1]:  # the next line would not have fitted
        assert utf16_len(shown(part.text)) > TELEGRAM_TEXT_LIMIT - 200


def test_a_chinese_subscribers_digest_is_headed_and_tagged_in_chinese() -> None:
    assert heading(3, None, "zh") == "🌙 你不在时的 3 条提醒"
    assert heading(1, None, "zh") == "🌙 你不在时的 1 条提醒"
    assert heading(5, date(2025, 12, 2), "zh") == "📰 每日摘要，12月2日"
    items = [(1, story(title="OpenAI blocks API access in China"))]
    (part,) = render_digest(items, heading(1, None, "zh"), UTC, "zh")
    line = shown(part.text).split("\n")[1]
    assert line.startswith("• OpenAI blocks API access in China — microsoft (azure openai) · 中国大陆 · 停止")
    assert line.endswith("(ithome, 10-21 01:30) 链接")
