"""Alerts are HTML that Telegram accepts: every field escaped, never over 4096 characters.

Each rendered message goes through the fake Bot API's copy of Telegram's HTML parser
(``parse_html``), which rejects what Telegram rejects; lengths are counted like Telegram counts
them, in UTF-16 code units after entity parsing.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.render import (
    MAX_OUTLETS_SHOWN,
    TELEGRAM_TEXT_LIMIT,
    join_within,
    render_alert,
    render_story_line,
    summary_sentences,
)
from newswatch.models import Tags
from newswatch.storage.stories import Story
from tests.fixtures.botapi import parse_html, utf16_len

NASTY = '<script>alert("x")</script> & AT&T \'quoted\' <b>fake bold</b> </i> &amp; &lt; <a href="x">'
PUBLISHED = datetime(2024, 10, 21, 1, 30, tzinfo=UTC)


def story(**fields) -> Story:
    base = Story(
        id="s-1",
        title="Microsoft stops Azure OpenAI for individual developers in mainland China",
        url="https://www.ithome.com/0/892/248.htm",
        source="ithome",
        summary="Microsoft will stop offering Azure OpenAI to individual developers. Enterprise customers "
        "are not affected. The change takes effect on October 21. A fourth sentence is dropped.",
        lang="en",
        published=PUBLISHED,
        created=PUBLISHED,
        relevant=True,
        score=1.0,
        tags=Tags(("microsoft",), ("azure openai",), ("CN",), ("discontinue",)),
        watched=(),
        outlets=({"source": "ithome", "url": "https://www.ithome.com/0/892/248.htm", "title": "t"},),
    )
    return replace(base, **fields)


def telegram_text(markup: str) -> tuple[str, list[dict]]:
    """What Telegram would show, or EntityParseError for what it would refuse."""
    text, entities = parse_html(markup)
    return text.strip(), entities


def test_an_alert_shows_title_tags_summary_source_time_and_link() -> None:
    text, entities = telegram_text(render_alert(story()))

    lines = text.split("\n")
    assert lines[0] == "🚫 Microsoft stops Azure OpenAI for individual developers in mainland China"
    assert lines[1] == "microsoft (azure openai) · CN · discontinue"
    assert lines[2].startswith("Microsoft will stop offering Azure OpenAI")
    assert "takes effect on October 21." in lines[2] and "fourth sentence" not in text
    assert lines[3] == "ithome · 2024-10-21 01:30 UTC"
    assert lines[4] == "Read the article"
    links = [e for e in entities if e["type"] == "text_link"]
    assert [link["url"] for link in links] == ["https://www.ithome.com/0/892/248.htm"]
    assert {"type": "bold", "offset": utf16_len("🚫 "), "length": len(lines[0]) - 2} in entities


def test_every_field_is_escaped_so_markup_in_the_news_shows_literally() -> None:
    nasty = story(
        title=NASTY,
        summary=NASTY + ". Second sentence.",
        source="src<&>",
        url='https://example.com/a?b=1&c="2"<x>',
        tags=Tags(("<openai>",), ("gpt & co",), ("<CN>",), ('block"',)),
        watched=("<b>watch</b>", "a&b"),
        outlets=(
            {"source": "src<&>", "url": 'https://example.com/a?b=1&c="2"<x>', "title": NASTY},
            {"source": "o<u>tlet", "url": 'https://o.example/?q="1"&r=<2>', "title": NASTY},
        ),
    )

    text, entities = telegram_text(render_alert(nasty))

    assert NASTY.strip() in text  # the title, as written, not interpreted
    assert "src<&>" in text and "o<u>tlet" in text
    assert '<openai> (gpt & co) · <CN> · block"' in text
    assert "Watched: <b>watch</b>, a&b" in text
    assert {e["type"] for e in entities} <= {"bold", "italic", "text_link"}
    urls = [e["url"] for e in entities if e["type"] == "text_link"]
    assert urls == ['https://example.com/a?b=1&c="2"<x>', 'https://o.example/?q="1"&r=<2>']


def test_a_story_line_for_latest_is_escaped_too() -> None:
    text, entities = telegram_text(render_story_line(story(title=NASTY, source="a&b")))
    assert NASTY.strip() in text and "(a&b, 10-21 01:30)" in text
    assert [e["url"] for e in entities if e["type"] == "text_link"] == [
        "https://www.ithome.com/0/892/248.htm"
    ]


@pytest.mark.parametrize(
    "field, value",
    [
        ("title", "标题" * 5000),
        ("title", "😀" * 5000),  # two UTF-16 units each: Telegram counts those
        ("title", "line one\n<b>line two</b>\n" * 500),
        ("summary", "没有句号的超长摘要" * 3000),
        ("summary", "😀 " * 9000),
        ("summary", "Sentence. " * 3000),
        ("url", "https://example.com/" + "x" * 6000),
        ("source", "s" * 5000),
        ("watched", tuple(f"关键词😀{i}" * 15 for i in range(80))),
        ("tags", Tags(tuple(f"provider{i}😀" for i in range(500)), ("svc",) * 3, ("CN",), ("ban",))),
    ],
)
def test_a_huge_field_never_makes_the_alert_longer_than_telegram_allows(field: str, value: object) -> None:
    text, _ = telegram_text(render_alert(story(**{field: value})))

    assert utf16_len(text) <= TELEGRAM_TEXT_LIMIT
    assert "Read the article" in text  # the link survives
    assert text.split("\n")[0].startswith("🚫 ")  # and the title line


def test_also_reported_by_is_bounded_however_many_outlets_report_the_story() -> None:
    outlets = [{"source": "ithome", "url": "https://www.ithome.com/0/892/248.htm", "title": "t"}]
    outlets += [
        {"source": f"outlet-{i}-" + "n" * 300, "url": f"https://o{i}.example/" + "p" * 3000, "title": "t"}
        for i in range(400)
    ]
    markup = render_alert(story(outlets=tuple(outlets)))
    text, entities = telegram_text(markup)

    assert utf16_len(text) <= TELEGRAM_TEXT_LIMIT
    also = next(line for line in text.split("\n") if line.startswith("Also reported by"))
    assert also.endswith(f"and {400 - MAX_OUTLETS_SHOWN} more")
    assert len([e for e in entities if e["type"] == "text_link"]) == 1 + MAX_OUTLETS_SHOWN
    assert len(also) < 500


def test_also_reported_by_names_each_other_outlet_once_and_never_the_first() -> None:
    first = {"source": "ithome", "url": "https://www.ithome.com/0/892/248.htm", "title": "t"}
    outlets = (
        first,
        {"source": "ithome", "url": "https://www.ithome.com/0/892/300.htm", "title": "follow-up"},
        {"source": "cnbeta", "url": "https://cnbeta.example/1", "title": "t"},
        {"source": "cnbeta", "url": "https://cnbeta.example/2", "title": "t"},
        {"source": "scmp", "url": "https://scmp.example/1", "title": "t"},
    )
    text, _ = telegram_text(render_alert(story(outlets=outlets)))
    assert "Also reported by cnbeta, scmp" in text

    alone, _ = telegram_text(render_alert(story(outlets=outlets[:2])))
    assert "Also reported by" not in alone


def test_a_watched_off_topic_story_says_which_keywords_matched() -> None:
    off_topic = story(relevant=False, tags=Tags(), watched=("小米",), title="小米 15 发布")
    text, _ = telegram_text(render_alert(off_topic))
    assert text.startswith("🔎 小米 15 发布")
    assert "Watched: 小米" in text


def test_the_summary_is_one_to_three_sentences() -> None:
    assert summary_sentences("第一句。第二句！第三句？第四句。") == "第一句。第二句！第三句？"
    assert summary_sentences("One. Two. Three. Four.") == "One. Two. Three."
    assert summary_sentences("No sentence end at all") == "No sentence end at all"
    assert len(summary_sentences("x" * 5000)) <= 600


def test_random_junk_in_every_field_always_renders_to_valid_html_within_the_limit() -> None:
    rng = random.Random(4)
    alphabet = [*"<>&\"' \n;#/=abcXYZ012中文標題😀🇨🇳\u200b\U0001f9e0", "&amp;", "</b>", "<i>", "&#x27;"]

    def junk(max_len: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, max_len)))

    for _ in range(300):
        outlets = tuple(
            {"source": junk(30), "url": "https://x.example/" + junk(40), "title": junk(20)}
            for _ in range(rng.randint(1, 12))
        )
        candidate = story(
            title=junk(6000) or "t",
            summary=junk(8000),
            source=junk(50) or "s",
            url="https://x.example/" + junk(100),
            relevant=rng.random() < 0.8,
            tags=Tags(*(tuple(junk(40) for _ in range(rng.randint(0, 20))) for _ in range(4))),
            watched=tuple(junk(100) for _ in range(rng.randint(0, 60))),
            outlets=outlets,
        )
        text, _ = telegram_text(render_alert(candidate))
        assert 0 < utf16_len(text) <= TELEGRAM_TEXT_LIMIT


def test_join_within_keeps_whole_lines_and_says_how_many_were_left_out() -> None:
    lines = [f"<b>{i}</b> " + "😀" * 300 for i in range(40)]
    joined = join_within(lines)
    text, _ = telegram_text(joined)
    assert utf16_len(text) <= TELEGRAM_TEXT_LIMIT
    kept = joined.count("</b>")
    assert 0 < kept < 40
    assert text.endswith(f"… and {40 - kept} more")
    assert join_within(["a", "b"]) == "a\nb"
