"""/tracker in Telegram: the service's real bot against the fake Bot API, acting as users.

Every answer passed the fake's copy of Telegram's HTML parser and length limit, and every button's
callback_data its 64-byte limit, or it would not have been delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newswatch.config import Config, SourceConfig, TelegramConfig, TrackerConfig
from tests.fixtures.botapi import FakeBotAPI, utf16_len
from tests.test_handlers import RunningBot, ask, last

ANN, BOB, CAROL = 21, 22, 23
LI = 24  # a user whose Telegram is in Chinese
GROUP, GROUP_ADMIN, MEMBER = -100, 31, 32
USAGE = "Usage: /tracker [provider or region]"

GERMAN_STORES = {
    "service": "deepseek",
    "regions": ["DE"],
    "audience": "consumers",
    "action": "ban",
    "effective": date(2025, 6, 27),
    "title": "DeepSeek <removed> from German app stores & more",
    "url": "https://news.example/deepseek-de?a=1&b=2",
}


@pytest.fixture
def config(store: Engine, botapi: FakeBotAPI, tmp_path: Path) -> Config:
    return Config(
        path=tmp_path / "config.toml",
        storage_url=store.url.render_as_string(hide_password=False),
        sources=(SourceConfig("ithome", "ithome", "https://www.ithome.com/rss/"),),
        telegram=TelegramConfig(token=botapi.token, api_base_url=botapi.base_url),
        tracker=TrackerConfig(events=(GERMAN_STORES,)),
    )


@pytest.fixture
def bot(botapi: FakeBotAPI, config: Config) -> Iterator[RunningBot]:
    for user in (ANN, BOB, CAROL):
        botapi.add_private_chat(user, f"user{user}")
    botapi.add_group(GROUP, "Newsroom", admins=[GROUP_ADMIN], members=[MEMBER])
    with RunningBot(config) as running:
        yield running


def buttons(message: dict) -> list[dict]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def test_tracker_is_registered_and_in_the_help(bot: RunningBot, botapi: FakeBotAPI) -> None:
    assert "tracker" in [c["command"] for c in botapi.commands]
    ask(botapi, ANN, "/help", "/tracker [provider|region]")


def test_tracker_shows_what_applies_to_the_subscribers_regions(
    bot: RunningBot, botapi: FakeBotAPI, subscribe
) -> None:
    subscribe(ANN, regions=["KR"])
    answer = ask(botapi, ANN, "/tracker", "AI restrictions: your regions and providers — 2 records")
    assert "🚫 DeepSeek · 🇰🇷 KR · government devices\nrestricted since 2025-02-05" in answer
    assert "✅ DeepSeek · 🇰🇷 KR · consumers\nlifted since 2025-04-28" in answer
    assert "2025-02-15 restricted → 2025-04-28 lifted" in answer
    assert buttons(last(botapi, ANN)) == []  # one page: no keyboard
    links = [e["url"] for e in last(botapi, ANN)["entities"] if e["type"] == "text_link"]
    assert (
        "https://4nownews.com/technology-and-it-market-news/deepseek-returns-to-south-korea-after-two-months-of-hiatus/"
        in links
    )


def test_a_region_or_provider_narrows_it_instead_of_the_choice_on_that_side(
    bot: RunningBot, botapi: FakeBotAPI, subscribe
) -> None:
    subscribe(ANN, regions=["KR"], providers=["openai"])
    cn = ask(botapi, ANN, "/tracker cn", "AI restrictions: CN, your regions and providers — 2 records")
    assert "OpenAI API · 🇨🇳 CN" in cn and "Azure OpenAI · 🇨🇳 CN" in cn and "KR" not in cn
    deepseek = ask(botapi, ANN, "/tracker DeepSeek", "AI restrictions: DeepSeek, your regions and providers")
    assert deepseek.count("DeepSeek · 🇰🇷 KR") == 2
    openai = ask(botapi, ANN, "/tracker OpenAI", "AI restrictions: OpenAI, your regions and providers")
    assert "Nothing tracked matches." in openai  # OpenAI in Ann's region KR: nothing
    ask(botapi, BOB, "/tracker 深度求索", "AI restrictions: DeepSeek — ")  # Bob chose everything
    germany = ask(botapi, BOB, "/tracker DE", "AI restrictions: DE — 1 record")  # a config event
    assert "DeepSeek <removed> from German app stores & more" in germany


def test_a_chinese_user_reads_the_tracker_in_chinese(bot: RunningBot, botapi: FakeBotAPI) -> None:
    botapi.add_private_chat(LI, "李", language_code="zh-hans")
    germany = ask(botapi, LI, "/tracker DE", "AI 服务限制：德国 — 1 条记录")
    assert "DeepSeek · 🇩🇪 德国 · 普通用户\n自 2025-06-27 起受限" in germany
    assert "DeepSeek <removed> from German app stores & more" in germany  # the title as reported
    ask(botapi, LI, "/tracker " + "x" * 200, "用法：/tracker [服务商或地区]")
    ask(botapi, BOB, "/tracker DE", "AI restrictions: DE — 1 record")


def test_a_group_sees_its_own_choices_and_any_member_may_ask(
    bot: RunningBot, botapi: FakeBotAPI, subscribe
) -> None:
    subscribe(GROUP, regions=["IT"])
    answer = ask(
        botapi, GROUP, "/tracker@newswatch_test_bot", "your regions and providers — 2 records", user=MEMBER
    )
    assert "ChatGPT · 🇮🇹 IT · everyone\nlifted since 2023-04-28" in answer
    assert "DeepSeek · 🇮🇹 IT · everyone\nrestricted since 2025-01-30" in answer


@pytest.mark.parametrize("argument", ["nonsense", "<b>bold</b>", "x" * 1000, "XX", "&amp;"])
def test_an_unknown_filter_gets_the_usage(bot: RunningBot, botapi: FakeBotAPI, argument: str) -> None:
    answer = ask(botapi, CAROL, f"/tracker {argument}", USAGE)
    assert len(answer) < 120


def test_a_long_answer_is_paginated_and_the_buttons_turn_the_pages(
    bot: RunningBot, botapi: FakeBotAPI, add_story: Callable[..., str]
) -> None:
    services = ["chatgpt", "openai api", "sora", "gemini", "claude", "copilot", "grok", "meta ai"]
    regions = ["VN", "TH", "PH", "BR", "AR", "MX", "NG", "ZA", "KE", "EG"]
    for i in range(len(services) * len(regions)):
        add_story(
            f"{services[i % 8]} restricted <in> {regions[i // 8]} " + "很长的标题😀" * 30,
            url=f"https://www.ithome.com/0/{i:03d}/{'x' * 300}.htm?a=1&b=<2>",
            tags={
                "providers": [],
                "services": [services[i % 8]],
                "regions": [regions[i // 8]],
                "actions": ["ban"],
            },
        )
    answer = ask(botapi, ANN, "/tracker", "AI restrictions — 111 records")
    first = last(botapi, ANN)
    assert utf16_len(answer) <= 4096
    pages = buttons(first)
    count = int(pages[0]["text"].removeprefix("1/"))
    assert count >= 3 and [b["text"] for b in pages] == [f"1/{count}", "▶"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in pages)

    botapi.press_button(ANN, first["message_id"], pages[1]["callback_data"])
    assert botapi.wait_for(lambda a: a.messages(ANN)[-1]["text"] != answer, timeout=10)
    second = last(botapi, ANN)
    assert [b["text"] for b in buttons(second)] == ["◀", f"2/{count}", "▶"]
    assert second["text"].startswith("AI restrictions — 111 records") and utf16_len(second["text"]) <= 4096

    botapi.press_button(ANN, first["message_id"], buttons(second)[1]["callback_data"])  # the page shown
    botapi.press_button(ANN, first["message_id"], "trk:999:", force=True)  # a page gone since: the last
    assert botapi.wait_for(
        lambda a: [b["text"] for b in buttons(a.messages(ANN)[-1])] == ["◀", f"{count}/{count}"], timeout=10
    )
    assert len(botapi.callback_answers) == 3
    assert botapi.errors == []  # the press on the page shown edited nothing, and said nothing


def test_stale_or_forged_tracker_buttons_are_refused_politely(bot: RunningBot, botapi: FakeBotAPI) -> None:
    ask(botapi, ANN, "/tracker", "AI restrictions")
    message = last(botapi, ANN)
    for data in ("trk:x:", "trk:1:p:nosuchai", "trk:1:r:XX", "trk:1:q:CN", "trk:-1:", "trk:1:h:0000"):
        botapi.press_button(ANN, message["message_id"], data, force=True)
    assert botapi.wait_for(lambda a: len(a.callback_answers) == 6, timeout=10)
    assert {a["text"] for a in botapi.callback_answers} == {"This button is no longer valid."}
    assert last(botapi, ANN)["text"] == message["text"]


def test_a_provider_name_too_long_for_callback_data_still_pages(
    botapi: FakeBotAPI, config: Config, add_story: Callable[..., str]
) -> None:
    name = "acme " + "very long service name " * 3
    vocabulary = {"services": {name: {"providers": ["openai"], "aliases": ["AcmeLong"]}}}
    for i in range(40):
        add_story(
            f"AcmeLong {i} " + "长" * 400,
            tags={
                "providers": ["openai"],
                "services": [name],
                "regions": [f"{chr(65 + i // 26)}{chr(65 + i % 26)}"],
                "actions": ["ban"],
            },
        )
    botapi.add_private_chat(ANN)
    with RunningBot(replace(config, vocabulary=vocabulary)):
        ask(botapi, ANN, "/tracker acmelong", "AI restrictions: AcmeLong")
        first = last(botapi, ANN)
        forward = buttons(first)[-1]
        assert forward["callback_data"].startswith("trk:1:h:")
        botapi.press_button(ANN, first["message_id"], forward["callback_data"])
        assert botapi.wait_for(lambda a: "2/" in buttons(a.messages(ANN)[-1])[1]["text"], timeout=10)
