"""/tracker pages are HTML Telegram accepts, every field escaped, each page within 4096 characters.

Every rendered page goes through the fake Bot API's copy of Telegram's HTML parser (``parse_html``),
which refuses what Telegram refuses; lengths are counted like Telegram counts them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from bot.tracker_view import (
    PAGE_LIMIT,
    callback_data,
    flag,
    keyboard,
    narrow,
    parse_callback,
    render_pages,
    render_record,
)
from newswatch.tracker import Event, Filter, build, load_history, vocabulary_for
from tests.fixtures.botapi import parse_html, utf16_len

LABELS = vocabulary_for(None).labels
NASTY = '<script>alert("x")</script> & AT&T <b>fake</b> </i> &amp; 😀'


def story(
    subject: str, region: str, action: str, on: date, title: str = "t", url: str = "https://a.example/1"
):
    return Event(
        subject=subject,
        providers=("openai",),
        regions=(region,),
        audience=None,
        action=action,
        effective=on,
        reported=datetime.combine(on, datetime.min.time(), UTC),
        title=title,
        url=url,
        story_id=f"s-{subject}-{region}-{on}-{action}",
    )


def shown(markup: str) -> str:
    text, _ = parse_html(markup)
    return text.strip()


def test_a_record_shows_status_since_its_report_its_steps_and_its_sources() -> None:
    [record] = [
        r for r in build(load_history()) if (r.subject, r.region, r.audience) == ("chatgpt", "IT", None)
    ]
    text, entities = parse_html(render_record(record, LABELS))
    assert text.split("\n") == [
        "✅ ChatGPT · 🇮🇹 IT · everyone",
        "lifted since 2023-04-28 — ChatGPT is back in Italy once OpenAI adds a privacy notice, an objection "
        "form and an age check",
        "2023-03-31 restricted → 2023-04-28 lifted",
        "Sources: aljazeera.com",
    ]
    links = [e["url"] for e in entities if e["type"] == "text_link"]
    assert links == [
        "https://www.thenationalnews.com/world/2023/03/31/openais-chatgpt-blocked-in-italy/",
        "https://www.aljazeera.com/news/2023/4/28/chatgpt-available-to-users-in-italy-a-month-after-temporary-ban",
        "https://www.aljazeera.com/news/2023/4/28/chatgpt-available-to-users-in-italy-a-month-after-temporary-ban",
    ]


def test_everything_from_outside_is_escaped_and_clipped() -> None:
    events = [
        story("openai", "CN", "restrict", date(2024, 1, 1), NASTY * 20, f"https://x.example/?q={NASTY}"),
        *(
            story("openai", "CN", "restrict", date(2024, 1, 2), NASTY, f"https://h{i}.example/a&b")
            for i in range(9)
        ),
        story("openai", "CN", "lift", date(2024, 3, 1)),
        story("openai", "CN", "restrict", date(2024, 5, 1)),
        story("openai", "CN", "lift", date(2024, 7, 1)),
        story("openai", "CN", "restrict", date(2024, 9, 1)),
        story("openai", "CN", "lift", date(2024, 11, 1), NASTY),
    ]
    [record] = build(events)
    text = shown(render_record(record, {"openai": NASTY * 5}))
    assert "<script>" in text and "&amp;" in text  # shown as written, not as markup
    assert text.count("→") == 4 and "… → " in text  # the last four steps of six
    assert "Sources: a.example" in text
    assert utf16_len(text) < 1000


def test_pages_pack_blocks_within_the_limit_open_restrictions_first() -> None:
    events = [
        story(
            f"svc{i}", "CN", "lift" if i % 3 == 0 else "restrict", date(2024, 1, 1 + i % 28), "长标题😀" * 80
        )
        for i in range(120)
    ]
    pages = render_pages(build(events), "AI restrictions", LABELS)
    assert len(pages) > 5
    for page in pages:
        text = shown(page)
        assert text.startswith("AI restrictions — 120 records")
        assert utf16_len(text) <= PAGE_LIMIT <= 4096
    first, final = shown(pages[0]), shown(pages[-1])
    assert first.split("\n\n")[1].startswith("🚫") and final.split("\n\n")[-1].startswith("✅")
    assert sum(shown(p).count("\n\n") for p in pages) == 120  # every record once


def test_an_empty_answer_says_so() -> None:
    assert [shown(p) for p in render_pages([], "AI restrictions: <CN>", LABELS)] == [
        "AI restrictions: <CN>\nNothing tracked matches."
    ]


def test_the_subscribers_choices_narrow_by_region_and_provider() -> None:
    records = build(load_history())
    assert {r.region for r in narrow(records, regions=("KR", "IT"))} == {"KR", "IT"}
    assert {r.subject for r in narrow(records, providers=("microsoft",))} == {"azure openai", "copilot"}
    assert narrow(records) == records


def test_the_keyboard_turns_pages_and_its_data_fits_telegrams_limit() -> None:
    assert keyboard(0, 1, Filter()) is None
    first = keyboard(0, 3, Filter(region="CN")).inline_keyboard[0]
    assert [(b.text, b.callback_data) for b in first] == [("1/3", "trk:0:r:CN"), ("▶", "trk:1:r:CN")]
    middle = keyboard(1, 3, Filter(provider="openai api")).inline_keyboard[0]
    assert [b.text for b in middle] == ["◀", "2/3", "▶"]
    assert [b.callback_data for b in middle] == [
        "trk:0:p:openai api",
        "trk:1:p:openai api",
        "trk:2:p:openai api",
    ]
    long = callback_data(999, Filter(provider="a" * 100))
    assert long.startswith("trk:999:h:") and len(long.encode()) <= 64


@pytest.mark.parametrize(
    "data, parsed",
    [
        ("trk:2:", (2, "", "")),
        ("trk:0:r:CN", (0, "r", "CN")),
        ("trk:1:p:openai api", (1, "p", "openai api")),
        ("trk:x:", None),
        ("trk:²:", None),
        ("trk:1234:", None),
        ("trk:1:q:CN", None),
        ("trk:1:p:", None),
        ("reg:CN", None),
        ("", None),
        (None, None),
    ],
)
def test_button_data_is_parsed_strictly(data: str | None, parsed) -> None:
    assert parse_callback(data) == parsed


def test_flags_come_from_region_codes() -> None:
    assert flag("CN") == "🇨🇳" and flag("EU") == "🇪🇺" and flag("X") == "" and flag("é1") == ""


def test_effective_dates_show_when_they_differ_from_since() -> None:
    [record] = build([story("openai", "CN", "restrict", date(2024, 7, 9))])
    record = replace(record, since=date(2024, 6, 25))
    assert "restricted since 2024-06-25 (effective 2024-07-09)" in shown(render_record(record, LABELS))


def test_a_chinese_subscriber_reads_the_tracker_in_chinese() -> None:
    [record] = [
        r for r in build(load_history()) if (r.subject, r.region, r.audience) == ("chatgpt", "IT", None)
    ]
    lines = shown(render_record(record, LABELS, "zh")).split("\n")
    assert lines[0] == "✅ ChatGPT · 🇮🇹 意大利 · 所有人"
    assert lines[1].startswith("自 2023-04-28 起已解除 — ChatGPT is back in Italy")  # the title as reported
    assert lines[2:] == ["2023-03-31 受限 → 2023-04-28 已解除", "来源：aljazeera.com"]

    [pending] = build([story("openai", "CN", "restrict", date(2024, 7, 9))])
    pending = replace(pending, since=date(2024, 6, 25))
    assert "自 2024-06-25 起受限（2024-07-09 生效）" in shown(render_record(pending, LABELS, "zh"))
    pages = render_pages(build(load_history()), "AI 服务限制", LABELS, "zh")
    assert shown(pages[0]).split("\n")[0].endswith(" 条记录") and "records" not in shown(pages[0])
    nothing = [shown(p) for p in render_pages([], "AI 服务限制", LABELS, "zh")]
    assert nothing == ["AI 服务限制\n没有符合条件的记录。"]
