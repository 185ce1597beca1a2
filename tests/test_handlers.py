"""Subscribers talk to the bot: commands, menus and junk get short, valid, helpful answers.

The service's real bot (``DeliveryRole.start_bot``: python-telegram-bot's Application, long polling,
setMyCommands) runs against the fake Bot API; the tests act as users with ``send_text`` and
``press_button`` and read what the bot answered. Every answer passed the fake's copy of Telegram's
HTML parser and length check, or it would not have been delivered.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.flood import BURST
from bot.handlers import COMMANDS, SLOW_DOWN
from newswatch.config import Config, SourceConfig, TelegramConfig
from newswatch.roles.delivery import DeliveryRole
from newswatch.storage import connect, outbox, subscribers
from newswatch.storage import sources as source_store
from newswatch.storage.subscribers import MAX_KEYWORDS
from tests.fixtures.botapi import FakeBotAPI, utf16_len

ADMIN = 11  # the bot's admin (config telegram.admins)
ANN, BOB = 21, 22  # users in private chats
GROUP, GROUP_ADMIN, MEMBER = -100, 31, 32


class RunningBot:
    """The service's bot, started as ``newswatch run`` starts it, on its own event loop thread."""

    def __init__(self, config: Config):
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="bot-loop")

    def call(self, coroutine, timeout: float = 20):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> RunningBot:
        self.thread.start()
        self.engine = connect(self.config.storage_url)
        self.service = DeliveryRole(self.config, self.engine, asyncio.Event())
        self.call(self.service.start_bot())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self.service._stop_bot())
        finally:
            self.engine.dispose()
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


@pytest.fixture
def config(store: Engine, botapi: FakeBotAPI, tmp_path: Path) -> Config:
    return Config(
        path=tmp_path / "config.toml",
        storage_url=store.url.render_as_string(hide_password=False),
        sources=(
            SourceConfig("ithome", "ithome", "https://www.ithome.com/rss/"),
            SourceConfig("36kr", "rss", "https://36kr.com/feed", enabled=False),
        ),
        telegram=TelegramConfig(token=botapi.token, api_base_url=botapi.base_url, admins=(ADMIN,)),
    )


@pytest.fixture
def bot(botapi: FakeBotAPI, config: Config) -> Iterator[RunningBot]:
    for user in (ADMIN, ANN, BOB):
        botapi.add_private_chat(user, f"user{user}")
    botapi.add_group(GROUP, "Newsroom", admins=[GROUP_ADMIN], members=[MEMBER])
    with RunningBot(config) as running:
        yield running


def ask(api: FakeBotAPI, chat: int, text: str, expect: str, user: int | None = None) -> str:
    """Send ``text`` as a user and return the bot's answer, which must contain ``expect``."""
    before = len(api.messages(chat))
    api.send_text(chat, text, user_id=user)
    assert api.wait_for(lambda a: len(a.messages(chat)) > before, timeout=10), f"no answer to {text!r}"
    answer = api.messages(chat)[before]["text"]
    assert expect in answer, f"{text!r} -> {answer!r}"
    return answer


def ask_each(api: FakeBotAPI, texts: list[str], subscribe=None) -> list[str]:
    """Each text from its own new private chat, all at once; the first answer in each chat."""
    chats = [9000 + i for i in range(len(texts))]
    for chat in chats:
        api.add_private_chat(chat)
        if subscribe:
            subscribe(chat)
    for chat, text in zip(chats, texts, strict=True):
        api.send_text(chat, text)
    assert api.wait_for(lambda a: all(a.messages(c) for c in chats), timeout=15)
    return [api.messages(chat)[0]["text"] for chat in chats]


def last(api: FakeBotAPI, chat: int) -> dict:
    return api.messages(chat)[-1]


# ------------------------------------------------------------------------------ subscribing


def test_the_commands_are_registered_with_telegram(bot: RunningBot, botapi: FakeBotAPI) -> None:
    assert [c["command"] for c in botapi.commands] == [c.command for c in COMMANDS]
    assert {"start", "stop", "help", "regions", "providers", "watch", "unwatch", "keywords", "latest"} <= {
        c["command"] for c in botapi.commands
    }


def test_start_in_a_private_chat_subscribes_and_explains_what_will_come(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine
) -> None:
    answer = ask(botapi, ANN, "/start", "Subscribed.")
    assert "blocked, banned, suspended" in answer and "/regions" in answer
    assert subscribers.get(store, ANN).active

    ask(botapi, ANN, "/start", "You are already subscribed.")


def test_stop_unsubscribes_and_start_brings_back_the_same_choices_but_no_stale_alerts(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine, add_story: Callable[..., str]
) -> None:
    ask(botapi, ANN, "/start", "Subscribed.")
    subscribers.update_choices(store, ANN, regions=["CN"])
    outbox.enqueue(store, add_story("OpenAI 停止向中国大陆提供 API 服务"), [subscribers.get(store, ANN).id])

    ask(botapi, ANN, "/stop", "Unsubscribed")
    assert not subscribers.get(store, ANN).active
    ask(botapi, ANN, "/start", "Subscribed.")
    assert subscribers.get(store, ANN).regions == ("CN",)
    assert outbox.counts(store) == {"dropped": 1}  # what was queued before /stop is not sent now


def test_in_a_group_only_an_admin_may_subscribe_it(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine
) -> None:
    ask(botapi, GROUP, "/start", "Only an admin", user=MEMBER)
    assert subscribers.get(store, GROUP) is None

    ask(botapi, GROUP, "/start@newswatch_test_bot", "Subscribed.", user=GROUP_ADMIN)
    group = subscribers.get(store, GROUP)
    assert group.active and group.kind == "group" and group.title == "Newsroom"

    ask(botapi, GROUP, "/stop", "Only an admin", user=MEMBER)
    assert subscribers.get(store, GROUP).active


def test_commands_before_start_ask_to_subscribe_first(bot: RunningBot, botapi: FakeBotAPI) -> None:
    ask(botapi, BOB, "/regions", "Send /start first")
    ask(botapi, ADMIN, "/watch openai", "Send /start first")


def test_a_subscribed_group_that_becomes_a_supergroup_is_followed_at_once(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine, subscribe
) -> None:
    subscribe(GROUP)
    botapi.migrate(GROUP, -1001234)  # Telegram tells the bot with a service message

    assert botapi.wait_for(lambda _: subscribers.get(store, -1001234) is not None, timeout=10)
    assert subscribers.get(store, GROUP) is None
    ask(botapi, -1001234, "/keywords", "No keywords", user=GROUP_ADMIN)  # same subscriber, new chat


# --------------------------------------------------------------------------- choosing what to get


@pytest.mark.parametrize(
    "command, code, label, field",
    [("/regions", "CN", "🇨🇳 China", "regions"), ("/providers", "openai", "OpenAI", "providers")],
)
def test_the_menus_toggle_choices_and_keep_them(
    bot: RunningBot,
    botapi: FakeBotAPI,
    store: Engine,
    command: str,
    code: str,
    label: str,
    field: str,
    subscribe,
) -> None:
    kind = "reg" if field == "regions" else "prov"
    subscribe(ANN)
    ask(botapi, ANN, command, f"Alerts for {field}: all. Tap to change.")
    menu = last(botapi, ANN)

    botapi.press_button(ANN, menu["message_id"], f"{kind}:{code}")
    assert botapi.wait_for(lambda a: label in a.messages(ANN)[-1]["text"], timeout=10)
    assert getattr(subscribers.get(store, ANN), field) == (code,)
    buttons = [b for row in last(botapi, ANN)["reply_markup"]["inline_keyboard"] for b in row]
    assert f"✅ {label}" in [b["text"] for b in buttons]

    botapi.press_button(ANN, menu["message_id"], f"{kind}:done")
    assert botapi.wait_for(lambda a: a.messages(ANN)[-1]["reply_markup"] is None, timeout=10)
    assert last(botapi, ANN)["text"] == f"Alerts for {field}: {label}."
    assert getattr(subscribers.get(store, ANN), field) == (code,)
    assert len(botapi.callback_answers) == 2  # every press answered: no spinning button


def test_pressing_all_when_all_is_chosen_is_answered_without_an_error(
    bot: RunningBot, botapi: FakeBotAPI, subscribe
) -> None:
    subscribe(ANN)
    ask(botapi, ANN, "/regions", "Tap to change")
    menu = last(botapi, ANN)

    botapi.press_button(ANN, menu["message_id"], "reg:*")
    botapi.press_button(ANN, menu["message_id"], "reg:*")

    assert botapi.wait_for(lambda a: len(a.callback_answers) == 2, timeout=10)
    ask(botapi, ANN, "/help", "/start")  # processed after both presses
    assert botapi.errors == []  # no "message is not modified" from a pointless edit


def test_a_stale_or_forged_button_is_refused_politely(
    bot: RunningBot, botapi: FakeBotAPI, store, subscribe
) -> None:
    subscribe(ANN)
    ask(botapi, ANN, "/regions", "Tap to change")
    menu = last(botapi, ANN)

    botapi.press_button(ANN, menu["message_id"], "reg:XX", force=True)
    botapi.press_button(ANN, menu["message_id"], "nonsense", force=True)

    assert botapi.wait_for(lambda a: len(a.callback_answers) == 2, timeout=10)
    assert [a["text"] for a in botapi.callback_answers] == [
        "Unknown choice.",
        "This button is no longer valid.",
    ]
    assert subscribers.get(store, ANN).regions == ()


def test_a_group_member_cannot_change_the_groups_menu(
    bot: RunningBot, botapi: FakeBotAPI, store, subscribe
) -> None:
    subscribe(GROUP)
    ask(botapi, GROUP, "/providers", "Tap to change", user=GROUP_ADMIN)
    menu = last(botapi, GROUP)

    botapi.press_button(GROUP, menu["message_id"], "prov:google", user_id=MEMBER)

    assert botapi.wait_for(lambda a: len(a.callback_answers) == 1, timeout=10)
    assert subscribers.get(store, GROUP).providers == ()


def test_watch_unwatch_and_keywords(bot: RunningBot, botapi: FakeBotAPI, store: Engine, subscribe) -> None:
    subscribe(ANN)
    ask(botapi, ANN, "/keywords", "No keywords")
    ask(botapi, ANN, "/watch Azure OpenAI", "Watching “azure openai”")
    ask(botapi, ANN, "/watch ＯｐｅｎＡＩ", "Watching “openai”")  # full-width: stored normalized
    ask(botapi, ANN, "/watch 封號", "Watching “封号”")  # Traditional: stored Simplified
    ask(botapi, ANN, "/watch openai", "Already watching")
    assert subscribers.get(store, ANN).keywords == ("azure openai", "openai", "封号")

    listing = ask(botapi, ANN, "/keywords", "Your keywords")
    assert listing.split("\n")[1:] == ["• azure openai", "• openai", "• 封号"]
    ask(botapi, ANN, "/unwatch OPENAI", "No longer watching “openai”")
    assert subscribers.get(store, ANN).keywords == ("azure openai", "封号")


JUNK_KEYWORDS = [
    ("/watch", "Usage: /watch KEYWORD"),
    ("/watch    ", "Usage: /watch KEYWORD"),
    ("/watch " + "长" * 1000, "Not added: a keyword can be at most 100 characters."),
    ("/watch <b>", "Not added: a keyword needs at least 2 letters or digits."),
    ("/watch a", "Not added: a keyword needs at least 2 letters or digits."),
    ("/watch \u200b\u200d\u2060", "Not added: a keyword needs at least 2 letters or digits."),
    ("/watch open\u200bai", "Watching “openai”"),  # zero-width: dropped, not part of the keyword
    ("/watch \u202eGemini\u202c", "Watching “gemini”"),  # bidi overrides would reverse the reply
    ("/watch <b>bold</b> & <i>", "Watching “bold &”"),
    ("/unwatch", "Usage: /unwatch KEYWORD"),
    ("/unwatch <script>", "Usage: /unwatch KEYWORD"),
    ("/unwatch " + "x" * 1000, "Usage: /unwatch KEYWORD"),
]


def test_junk_keywords_get_a_short_helpful_answer(bot: RunningBot, botapi: FakeBotAPI, subscribe) -> None:
    answers = ask_each(botapi, [text for text, _ in JUNK_KEYWORDS], subscribe)
    for (text, expect), answer in zip(JUNK_KEYWORDS, answers, strict=True):
        assert expect in answer, f"{text[:30]!r} -> {answer!r}"
        assert len(answer) < 200


def test_a_keyword_stored_under_older_rules_still_matches_and_can_be_unwatched(
    bot: RunningBot, botapi: FakeBotAPI, store, subscribe
) -> None:
    subscribe(ANN, keywords=["x"])  # one letter was enough before

    ask(botapi, ANN, "/keywords", "• x")
    ask(botapi, ANN, "/unwatch x", "No longer watching “x”")
    assert subscribers.get(store, ANN).keywords == ()


def test_a_subscriber_cannot_watch_more_than_the_maximum(
    bot: RunningBot, botapi: FakeBotAPI, store, subscribe
) -> None:
    subscribe(ANN)
    subscribers.update_choices(store, ANN, keywords=[f"kw{i}" for i in range(MAX_KEYWORDS)])
    ask(botapi, ANN, "/watch one more", f"at most {MAX_KEYWORDS} keywords")
    assert len(subscribers.get(store, ANN).keywords) == MAX_KEYWORDS


# ---------------------------------------------------------------------------------- language
#
# The bot answers in the chat's language: the subscriber's (/lang, or what /start took from Telegram's
# language_code), else the language_code of the user who wrote. Each test speaks to it as a Chinese
# user ("zh-hans") and as an English one, and checks that each gets their own words and not the other's.

LI = 23  # a user whose Telegram is in Chinese


def chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_the_command_menu_is_registered_in_english_and_in_chinese(
    bot: RunningBot, botapi: FakeBotAPI
) -> None:
    english, zh = botapi.commands, botapi.commands_for(language_code="zh")
    assert [c["command"] for c in zh] == [c["command"] for c in english] == [c.command for c in COMMANDS]
    assert [c["description"] for c in english] == [c.description for c in COMMANDS]
    assert not any(chinese(c["description"]) for c in english)
    assert all(chinese(c["description"]) for c in zh)
    assert {"command": "start", "description": "订阅提醒"} in zh


def test_start_and_help_come_in_the_users_language(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine
) -> None:
    botapi.add_private_chat(LI, "李", language_code="zh-hans")

    answer = ask(botapi, LI, "/start", "订阅成功。")
    assert "被封锁、禁用、暂停、停止服务或受到限制" in answer and "/regions — 只看部分地区" in answer
    ask(botapi, LI, "/start", "你已经订阅了。")
    assert "/watch 关键词" in ask(botapi, LI, "/help", "我会发送提醒")

    answer = ask(botapi, ANN, "/start", "Subscribed.")
    assert not chinese(answer) and not chinese(ask(botapi, ANN, "/help", "I send an alert"))
    assert (subscribers.get(store, LI).lang, subscribers.get(store, ANN).lang) == ("zh", "en")


def test_before_subscribing_the_telegram_language_decides(bot: RunningBot, botapi: FakeBotAPI) -> None:
    botapi.add_private_chat(LI, "李", language_code="zh-hans")
    assert "/start — 订阅" in ask(botapi, LI, "/help", "我会发送提醒")
    ask(botapi, LI, "/regions", "你还没有订阅。请先发送 /start。")
    ask(botapi, BOB, "/regions", "You are not subscribed. Send /start first.")


BAD_INPUT = [  # (what is typed, the Chinese answer, the English answer)
    ("/foo", "我不认识 /foo。试试 /help。", "I don't know /foo. Try /help."),
    ("hello", "我只懂命令。试试 /help。", "I only understand commands. Try /help."),
    ("/latest abc", "用法：/latest [N]——N 为 1 到 20。", "Usage: /latest [N] — N from 1 to 20."),
    (
        "/watch a",
        "未添加：关键词至少需要 2 个字母、汉字或数字。",
        "Not added: a keyword needs at least 2 letters or digits.",
    ),
    (
        "/watch " + "长" * 101,
        "未添加：关键词最多 100 个字符。",
        "Not added: a keyword can be at most 100 characters.",
    ),
    (
        "/unwatch x",
        "用法：/unwatch 关键词——须是你的 /keywords 之一。",
        "Usage: /unwatch KEYWORD — one of your /keywords.",
    ),
    (
        "/tz Mars/Olympus",
        "“Mars/Olympus”不是时区名称。请使用 IANA 名称，例如 /tz Asia/Shanghai 或 /tz Europe/London。",
        "“Mars/Olympus” is not a timezone name. Use an IANA name, e.g. /tz Asia/Shanghai or /tz Europe/"
        "London.",
    ),
    (
        "/quiet soon",
        "未设置：请这样写时段：/quiet 23:00-08:00（24 小时制，按 Asia/Shanghai），或 /quiet off。",
        "Not set: write the hours as /quiet 23:00-08:00 (24-hour clock, in UTC), or /quiet off.",
    ),
    (
        "/tracker " + "x" * 200,
        "用法：/tracker [服务商或地区]——例如 /tracker deepseek 或 /tracker CN。",
        "Usage: /tracker [provider or region] — for example /tracker deepseek or /tracker CN.",
    ),
]


def test_bad_commands_and_arguments_are_explained_in_the_users_language(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine
) -> None:
    chats = {"zh-hans": range(9100, 9100 + len(BAD_INPUT)), "en": range(9200, 9200 + len(BAD_INPUT))}
    for code, ids in chats.items():
        for chat in ids:
            botapi.add_private_chat(chat, language_code=code)
            subscribers.subscribe(store, chat, "private", "", subscribers.lang_of(code))  # as /start does
    for ids in chats.values():
        for chat, (text, _, _) in zip(ids, BAD_INPUT, strict=True):
            botapi.send_text(chat, text)
    every = [*chats["zh-hans"], *chats["en"]]
    assert botapi.wait_for(lambda a: all(a.messages(c) for c in every), timeout=15)

    for (text, zh, en), zh_chat, en_chat in zip(BAD_INPUT, chats["zh-hans"], chats["en"], strict=True):
        assert botapi.messages(zh_chat)[0]["text"] == zh, text
        assert botapi.messages(en_chat)[0]["text"] == en, text


def test_the_regions_menu_is_labelled_in_chinese_for_a_chinese_user(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine
) -> None:
    botapi.add_private_chat(LI, "李", language_code="zh-hans")
    ask(botapi, LI, "/start", "订阅成功。")
    ask(botapi, LI, "/regions", "提醒的地区：全部。点按可更改。")
    menu = last(botapi, LI)
    labels = [b["text"] for row in menu["reply_markup"]["inline_keyboard"] for b in row]
    assert labels[:3] == ["🇨🇳 中国大陆", "🇭🇰 香港", "🇲🇴 澳门"] and labels[-2:] == ["✅ 全部", "完成"]

    botapi.press_button(LI, menu["message_id"], "reg:HK")
    assert botapi.wait_for(lambda a: "✅ 🇭🇰 香港" in str(a.messages(LI)[-1]["reply_markup"]), timeout=10)
    botapi.press_button(LI, menu["message_id"], "reg:done")
    assert botapi.wait_for(lambda a: a.messages(LI)[-1]["reply_markup"] is None, timeout=10)
    assert last(botapi, LI)["text"] == "提醒的地区：🇭🇰 香港。"
    assert [a["text"] for a in botapi.callback_answers] == [None, "已保存"]

    ask(botapi, ANN, "/start", "Subscribed.")
    ask(botapi, ANN, "/providers", "Alerts for providers: all. Tap to change.")
    labels = [b["text"] for row in last(botapi, ANN)["reply_markup"]["inline_keyboard"] for b in row]
    assert "Baidu" in labels and labels[-2:] == ["✅ All", "Done"] and not any(map(chinese, labels))


def test_lang_changes_the_language_of_replies_and_alerts(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine
) -> None:
    botapi.add_private_chat(LI, "李", language_code="zh-hans")
    ask(botapi, LI, "/start", "订阅成功。")
    ask(botapi, ANN, "/start", "Subscribed.")

    ask(botapi, ANN, "/lang zh", "好的，我会用中文回复；有中文报道时，提醒优先显示中文报道。")
    ask(botapi, ANN, "/help", "我会发送提醒")
    ask(botapi, ANN, "/start", "你已经订阅了。")
    assert subscribers.get(store, ANN).lang == "zh"  # chosen with /lang: another /start keeps it

    ask(botapi, LI, "/lang EN", "I will answer in English, and alerts will lead with English reports")
    ask(botapi, LI, "/foo", "I don't know /foo.")  # /lang wins over the Telegram language
    assert subscribers.get(store, LI).lang == "en"


def test_lang_with_junk_explains_the_usage(bot: RunningBot, botapi: FakeBotAPI, subscribe) -> None:
    junk = ["/lang", "/lang fr", "/lang <b>zh</b>", "/lang zh en", "/lang " + "z" * 1000]
    answers = ask_each(botapi, junk, subscribe)
    usage = "Usage: /lang zh or /lang en — I answer in English, and alerts lead with English reports."
    assert answers == [usage] * len(junk)


def test_an_alert_is_framed_in_the_subscribers_language(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine, add_story: Callable[..., str], deliver
) -> None:
    botapi.add_private_chat(LI, "李", language_code="zh-hans")
    ask(botapi, LI, "/start", "订阅成功。")
    ask(botapi, ANN, "/start", "Subscribed.")
    title = "OpenAI 停止向中国大陆提供 API 服务"
    outlets = [
        {"source": "ithome", "url": "https://www.ithome.com/0/900/001.htm", "title": title},
        {"source": "36kr", "url": "https://36kr.com/p/1", "title": title},
    ]
    add_story(title, url=outlets[0]["url"], outlets=outlets, effective=date(2024, 7, 9))

    deliver()

    zh, en = last(botapi, LI)["text"].split("\n"), last(botapi, ANN)["text"].split("\n")
    assert zh[0] == en[0] == f"🚫 {title}"  # the story's own words are never translated
    assert zh[1:3] == ["openai · 中国大陆 · 封锁", "2024年7月9日起"]
    assert en[1:3] == ["openai · CN · block", "from 9 Jul 2024"]
    assert zh[-2:] == ["阅读全文", "其他报道：36kr"]
    assert en[-2:] == ["Read the article", "Also reported by 36kr"]


# ---------------------------------------------------------------------------------- /latest


def test_latest_with_a_junk_count_explains_the_usage(bot: RunningBot, botapi: FakeBotAPI) -> None:
    junk = ["abc", "0", "21", "999", "-1", "²", "1.5", "<b>3</b>", "9" * 1000]
    answers = ask_each(botapi, [f"/latest {arg}" for arg in junk])
    assert answers == ["Usage: /latest [N] — N from 1 to 20."] * len(junk)


def test_latest_lists_the_last_alerts_newest_first(
    bot: RunningBot, botapi: FakeBotAPI, add_story: Callable[..., str]
) -> None:
    ask(botapi, ANN, "/latest", "No alerts yet.")
    for i in range(3):
        add_story(f"OpenAI <停止> 服务 {i}")
        time.sleep(0.01)

    answer = ask(botapi, ANN, "/latest 2", "OpenAI <停止> 服务 2")
    assert answer.count("•") == 2 and "服务 0" not in answer
    assert answer.index("服务 2") < answer.index("服务 1")


def test_latest_20_with_long_titles_fits_in_one_message(
    bot: RunningBot, botapi: FakeBotAPI, add_story: Callable[..., str]
) -> None:
    for i in range(25):
        add_story(f"{i} " + "很长的标题😀" * 100, source="s" * 60)

    answer = ask(botapi, ANN, "/latest 20", "很长的标题")
    assert utf16_len(answer) <= 4096
    shown = answer.count("• ")
    assert 5 <= shown < 20 and answer.endswith(f"… and {20 - shown} more")


# ---------------------------------------------------------------------------------- /status


def test_status_is_only_for_the_bots_admins(bot: RunningBot, botapi: FakeBotAPI) -> None:
    ask(botapi, ANN, "/status", "/status is for the bot's admins.")
    ask(botapi, GROUP, "/status", "/status is for the bot's admins.", user=GROUP_ADMIN)

    answer = ask(botapi, ADMIN, "/status", "Sources")
    assert "• ithome: never polled" in answer and "• 36kr: disabled" in answer
    assert "Outbox: 0 pending, 0 sent, 0 dropped" in answer
    assert "Subscribers: 0 active" in answer


def test_status_with_many_failing_sources_still_fits_in_one_message(
    botapi: FakeBotAPI, config: Config, store: Engine
) -> None:
    sources = tuple(SourceConfig(f"source-{i:02d}", "rss", f"https://s{i}.example/feed") for i in range(60))
    for source in sources:
        source_store.record_failure(store, source.name, "<html> timeout & connection refused " * 10)
    botapi.add_private_chat(ADMIN)
    with RunningBot(replace(config, sources=sources)):
        answer = ask(botapi, ADMIN, "/status", "Sources")
    assert utf16_len(answer) <= 4096
    assert "<html> timeout & connection refused" in answer


# ------------------------------------------------------------------------------------ junk


def test_unknown_commands_and_plain_text_get_a_short_helpful_answer(
    bot: RunningBot, botapi: FakeBotAPI
) -> None:
    cases = [
        ("/foo", "I don't know /foo. Try /help."),
        ("/foo <b>bold</b> & more", "I don't know /foo. Try /help."),
        ("/" + "x" * 60, f"I don't know /{'x' * 39}. Try /help."),
        ("hello", "I only understand commands. Try /help."),
        ("<b>not a command</b> &", "I only understand commands. Try /help."),
        ("你好，机器人", "I only understand commands. Try /help."),
    ]
    assert ask_each(botapi, [text for text, _ in cases]) == [answer for _, answer in cases]


def test_in_a_group_the_bot_ignores_chatter_and_other_bots_commands(
    bot: RunningBot, botapi: FakeBotAPI
) -> None:
    botapi.send_text(GROUP, "hello everyone", user_id=MEMBER)
    botapi.send_text(GROUP, "/start@some_other_bot", user_id=MEMBER)
    ask(botapi, GROUP, "/help", "I send an alert", user=MEMBER)  # the first answer is to /help
    time.sleep(0.5)
    assert len(botapi.messages(GROUP)) == 1


def test_help(bot: RunningBot, botapi: FakeBotAPI) -> None:
    answer = ask(botapi, ANN, "/help", "/watch KEYWORD")
    assert "/latest [N]" in answer


def test_a_user_sending_many_commands_does_not_hold_up_everyone_else(
    bot: RunningBot, botapi: FakeBotAPI
) -> None:
    for _ in range(6):
        botapi.send_text(ANN, "/help")  # Ann's answers must be a second apart: six seconds
    started = time.monotonic()
    ask(botapi, BOB, "/help", "/start")
    assert time.monotonic() - started < 2.0
    assert botapi.wait_for(lambda a: len(a.messages(ANN)) == 6, timeout=15)
    assert botapi.too_many_requests == 0


def test_a_flooding_user_never_delays_another_users_reply_and_gets_one_polite_answer(
    bot: RunningBot, botapi: FakeBotAPI
) -> None:
    for _ in range(150):
        botapi.send_text(ANN, "/help")
    assert botapi.wait_for(lambda a: len(a.messages(ANN)) >= 1, timeout=10)  # the flood is being served

    started = time.monotonic()
    ask(botapi, BOB, "/help", "/start")
    assert time.monotonic() - started < 2.0

    assert botapi.wait_for(lambda a: any(SLOW_DOWN in m["text"] for m in a.messages(ANN)), timeout=20)
    time.sleep(2)  # anything still queued for Ann would arrive now
    answers = [m["text"] for m in botapi.messages(ANN)]
    assert sum(SLOW_DOWN in a for a in answers) == 1  # one polite reply, not one per command
    assert len(answers) <= BURST + 1  # the rest were dropped, not queued for minutes
    assert botapi.too_many_requests == 0


def test_keywords_lists_the_maximum_of_long_keywords_within_one_message(
    bot: RunningBot, botapi: FakeBotAPI, subscribe
) -> None:
    long = [f"{i:02d} " + "很长的关键词😀" * 14 for i in range(MAX_KEYWORDS)]  # 100 characters each
    subscribe(ANN, keywords=long)

    answer = ask(botapi, ANN, "/keywords", "Your keywords")

    assert utf16_len(answer) <= 4096
    assert answer.split("\n")[1] == f"• {long[0]}" and answer.endswith(" more")


def test_a_button_pressed_on_a_message_the_bot_cannot_see_is_answered(
    bot: RunningBot, botapi: FakeBotAPI, subscribe
) -> None:
    subscribe(ANN)
    botapi.press_inline_button(ANN, "reg:CN")  # an inline-mode message: no chat, no message

    assert botapi.wait_for(lambda a: len(a.callback_answers) == 1, timeout=10)
    assert botapi.callback_answers[0]["text"] == "This button is no longer valid."
    ask(botapi, ANN, "/help", "/start")  # and the bot is fine
