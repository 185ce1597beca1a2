"""Alerts are HTML that Telegram accepts: every field escaped, never over 4096 characters.

Each rendered message goes through the fake Bot API's copy of Telegram's HTML parser
(``parse_html``), which rejects what Telegram rejects; lengths are counted like Telegram counts
them, in UTF-16 code units after entity parsing.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from bot.render import (
    MAX_OUTLETS_SHOWN,
    TELEGRAM_TEXT_LIMIT,
    choose_lead,
    join_within,
    lead_at,
    render_alert,
    render_story_line,
    summary_sentences,
)
from newswatch.detect.stories import EFFECTIVE, EXTENDED, LIFTED
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


# --- for whom, from when, status changes, languages -------------------------------------------------

ITHOME = {
    "source": "ithome",
    "url": "https://www.ithome.com/0/892/248.htm",
    "title": "微软：10 月 21 日起停止向中国大陆个人开发者提供 Azure OpenAI 服务",
    "lang": "zh",
    "summary": "微软宣布将停止向中国大陆的个人开发者提供 Azure OpenAI 服务。企业客户不受影响。",
}
VERGE = {
    "source": "theverge",
    "url": "https://www.theverge.com/2024/10/21/azure-openai-china",
    "title": "Microsoft cuts off Azure OpenAI for individual developers in China",
    "lang": "en",
    "summary": "Individual developers in mainland China lose access to Azure OpenAI on October 21.",
}
SCMP = {
    "source": "scmp",
    "url": "https://www.scmp.com/tech/azure",
    "title": "Azure OpenAI exits China",
    "lang": "en",
}


def two_languages(**fields) -> Story:
    """A story first reported by ITHome in Chinese, then by The Verge and SCMP in English."""
    base = {
        "title": ITHOME["title"],
        "url": ITHOME["url"],
        "source": "ithome",
        "summary": ITHOME["summary"],
        "lang": "zh",
        "outlets": (ITHOME, VERGE, SCMP),
    }
    return story(**base | fields)


def test_an_alert_says_for_whom_and_from_when() -> None:
    alert = story(
        tags=Tags(("microsoft",), ("azure openai",), ("CN",), ("discontinue",), ("individual-developers",))
    )
    text, _ = telegram_text(render_alert(replace(alert, effective=date(2024, 10, 21))))
    assert text.split("\n")[2] == "individual developers · from 21 Oct 2024"

    unknown, _ = telegram_text(render_alert(story()))
    assert "from " not in unknown and "developers ·" not in unknown


def test_a_status_change_is_framed_as_an_update_naming_the_earlier_story() -> None:
    notice = story(
        id="s-notice",
        title="OpenAI to block API traffic from China from July 9",
        url="https://example.com/notice?a=1&b=2",
        published=datetime(2024, 6, 25, 2, 40, tzinfo=UTC),
    )
    effective = story(
        id="s-effective",
        title="OpenAI's China API block is now in effect",
        parent_id="s-notice",
        change=EFFECTIVE,
        tags=Tags(("openai",), ("openai api",), ("CN",), ("block",)),
    )
    text, entities = telegram_text(render_alert(effective, parent=notice))
    lines = text.split("\n")
    assert lines[0] == "🔄 Update: now in effect"
    assert lines[1] == "🚫 OpenAI's China API block is now in effect"
    assert "Earlier: OpenAI to block API traffic from China from July 9 (25 Jun 2024)" in lines
    assert "https://example.com/notice?a=1&b=2" in [e["url"] for e in entities if e["type"] == "text_link"]

    lifted, _ = telegram_text(
        render_alert(
            replace(effective, change=LIFTED, tags=Tags(("openai",), (), ("CN",), ("lift",))), parent=notice
        )
    )
    assert lifted.startswith("✅ Lifted\n✅ ")


def test_the_subscribers_language_chooses_the_report_that_leads() -> None:
    zh, _ = telegram_text(render_alert(two_languages(), "zh"))
    en, en_entities = telegram_text(render_alert(two_languages(), "en"))

    assert zh.split("\n")[0] == "🚫 " + ITHOME["title"]
    assert "其他报道：theverge、scmp" in zh and "Also reported by" not in zh
    assert en.split("\n")[0] == "🚫 " + VERGE["title"]
    assert VERGE["summary"] in en and "theverge · 2024-10-21 01:30 UTC" in en
    assert "Also reported by ithome, scmp" in en
    assert next(e["url"] for e in en_entities if e["type"] == "text_link") == VERGE["url"]
    assert render_alert(two_languages()) == render_alert(two_languages(), "en")  # not chosen yet: English


def test_an_edit_keeps_the_lead_the_alert_was_sent_with() -> None:
    sent_alone = story(title=ITHOME["title"], url=ITHOME["url"], lang="zh", outlets=(ITHOME,))
    lead = choose_lead(sent_alone, "en")  # no English report yet: the first report leads
    grown = two_languages()

    text, _ = telegram_text(render_alert(grown, "en", lead=lead_at(grown, lead.url)))
    assert text.split("\n")[0] == "🚫 " + ITHOME["title"]
    assert "Also reported by theverge, scmp" in text


def test_outlets_stored_before_languages_were_kept_never_lead() -> None:
    old = story(
        outlets=(
            {"source": "ithome", "url": "https://www.ithome.com/0/1.htm", "title": "t"},
            {"source": "neowin", "url": "https://www.neowin.net/1", "title": "English"},
        ),
        lang="zh",
    )
    text, _ = telegram_text(render_alert(old, "en"))
    assert text.split("\n")[0].endswith(old.title) and "Also reported by neowin" in text


def test_a_huge_earlier_story_or_audience_never_makes_the_alert_too_long() -> None:
    parent = story(title="😀" * 5000, url="https://example.com/" + "p" * 5000)
    child = two_languages(
        change=EXTENDED,
        parent_id=parent.id,
        effective=date(2024, 10, 21),
        tags=Tags(
            ("p",) * 300, ("s",) * 300, ("CN",) * 300, ("ban",), tuple(f"audience-{i}😀" for i in range(400))
        ),
        summary="S. " * 5000,
        watched=tuple("w" * 90 for _ in range(50)),
    )
    for lang, frame in (("zh", "➕ 更新：范围扩大\n"), ("en", "➕ Update: extended\n")):
        text, _ = telegram_text(render_alert(child, lang, parent=parent))
        assert utf16_len(text) <= TELEGRAM_TEXT_LIMIT
        assert text.startswith(frame)


def test_a_chinese_subscribers_alert_is_framed_in_chinese_and_an_english_one_in_english() -> None:
    """Our words follow the language; the story's (titles, outlets, summaries) stay as reported."""
    notice = two_languages(id="s-notice", published=datetime(2024, 6, 25, 2, 40, tzinfo=UTC))
    update = two_languages(
        parent_id="s-notice",
        change=EFFECTIVE,
        effective=date(2024, 10, 21),
        tags=Tags(
            ("microsoft",), ("azure openai",), ("CN", "HK"), ("discontinue",), ("individual-developers",)
        ),
        watched=("azure",),
    )
    zh, _ = telegram_text(render_alert(update, "zh", parent=notice))
    en, _ = telegram_text(render_alert(update, "en", parent=notice))

    assert zh.split("\n")[:4] == [
        "🔄 更新：现已生效",
        "🚫 " + ITHOME["title"],
        "microsoft (azure openai) · 中国大陆、香港 · 停止服务",
        "个人开发者 · 2024年10月21日起",
    ]
    assert f"此前：{ITHOME['title']}（2024年6月25日）" in zh
    assert "阅读全文" in zh and "关注的关键词：azure" in zh
    assert en.split("\n")[:4] == [
        "🔄 Update: now in effect",
        "🚫 " + VERGE["title"],
        "microsoft (azure openai) · CN, HK · discontinue",
        "individual developers · from 21 Oct 2024",
    ]
    assert f"Earlier: {VERGE['title']} (25 Jun 2024)" in en and "Watched: azure" in en
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in en.replace(ITHOME["title"], ""))  # no Chinese of ours


def test_more_outlets_than_shown_are_counted_in_the_subscribers_language() -> None:
    outlets = tuple({"source": f"o{i}", "url": f"https://o{i}.example/", "title": "t"} for i in range(8))
    zh, _ = telegram_text(render_alert(story(outlets=outlets), "zh"))
    en, _ = telegram_text(render_alert(story(outlets=outlets), "en"))
    assert "其他报道：o0、o1、o2、o3、o4 等另外 3 家" in zh
    assert "Also reported by o0, o1, o2, o3, o4 and 3 more" in en
    assert join_within(["a" * 4000, "b" * 200, "c"], "zh").endswith("……另有 2 条")
