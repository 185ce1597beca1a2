"""Quiet hours and daily digests: held alerts arrive as one digest, at the right time, exactly once.

Real python-telegram-bot sends through the delivery job to the fake Bot API; time is a
:class:`tests.conftest.Clock` the tests move (to 23:30 in Shanghai, then to 08:00 the next day),
so nothing sleeps for hours. Commands go through the service's own bot, as in test_handlers.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.delivery import Delivery
from bot.handlers import COMMANDS
from bot.pacing import Pacer
from bot.render import render_alert
from bot.senders import ConsoleSender, TelegramSender
from newswatch.config import AlertsConfig, Config, TelegramConfig
from newswatch.storage import outbox, schema, subscribers
from newswatch.storage import stories as story_store
from tests.conftest import Clock
from tests.fixtures.botapi import FakeBotAPI, utf16_len
from tests.test_delivery import AZURE, AZURE_AGAIN, AZURE_TEXT, service_config, start_service
from tests.test_handlers import RunningBot, ask, ask_each

pytestmark = pytest.mark.filterwarnings("ignore:.*`retry_after` will be of type:DeprecationWarning")

ANN, BOB = 21, 22
LI = 23  # a user whose Telegram is in Chinese
GROUP, GROUP_ADMIN, MEMBER = -100, 31, 32
UTC_ = ZoneInfo("UTC")
SHANGHAI, BERLIN = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")


def at(text: str, tz: ZoneInfo = UTC_) -> datetime:
    """ "2025-12-01 23:30" on the wall clock of ``tz``, as an aware UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(ZoneInfo("UTC"))


def rows(store: Engine) -> list:
    with store.connect() as conn:
        return list(conn.execute(select(schema.outbox).order_by(schema.outbox.c.id)))


def idle(store: Engine, now: datetime) -> bool:
    """Nothing due now: no alert, no digest message, no held row whose time has come, no retry."""
    retrying = any(r.status == outbox.PENDING and r.attempts for r in rows(store))
    return not (
        retrying or outbox.due(store, now) or outbox.due_parts(store, now) or outbox.held_due(store, now)
    )


@pytest.fixture
def settle(store: Engine, botapi: FakeBotAPI, clock: Clock) -> Callable[..., None]:
    """``settle(until=None, timeout=20)``: run the delivery job at ``clock`` with a real Bot until
    ``until(botapi)`` holds, or, without it, until nothing is due at the clock's time."""

    def settle(until: Callable[[FakeBotAPI], bool] | None = None, timeout: float = 20.0) -> None:
        async def run() -> None:
            request = HTTPXRequest(connection_pool_size=32)
            async with Bot(botapi.token, base_url=botapi.base_url, request=request) as bot:
                delivery = Delivery(store, TelegramSender(bot), AlertsConfig(), Pacer(), clock=clock)
                deadline = time.monotonic() + timeout
                await delivery.run_once()
                while not (until(botapi) if until else idle(store, clock())) and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                    await delivery.run_once()

        asyncio.run(run())

    return settle


# ------------------------------------------------------------------------------ quiet hours


def test_quiet_hours_hold_alerts_and_send_them_as_one_digest_when_they_end(
    botapi: FakeBotAPI, store: Engine, subscribe, add_story, clock: Clock, settle
) -> None:
    botapi.add_private_chat(ANN)
    subscribe(ANN)
    subscribers.set_schedule(store, ANN, quiet="23:00-08:00", tz="Asia/Shanghai")
    clock.set(at("2025-12-01 23:30", SHANGHAI))
    titles = [f"OpenAI 停止向中国大陆提供 API 服务 {n}" for n in range(3)]
    for title in titles:
        add_story(title)

    settle()
    assert botapi.sent == []
    release = at("2025-12-02 08:00", SHANGHAI)
    assert {(r.status, r.held, r.next_attempt) for r in rows(store)} == {("pending", True, release)}
    clock.set(at("2025-12-02 07:59", SHANGHAI))
    settle()
    assert botapi.sent == []

    clock.set(release)
    settle()

    (digest,) = botapi.messages(ANN)
    lines = digest["text"].split("\n")
    assert lines[0] == "🌙 3 alerts while you were away"
    assert [line.split(" — ")[0] for line in lines[1:]] == [f"• {t}" for t in titles]
    assert {(r.status, r.message_id) for r in rows(store)} == {("sent", digest["message_id"])}
    settle()
    assert len(botapi.sent) == 1  # and never again


def test_a_chinese_subscribers_digest_is_headed_in_chinese(
    botapi: FakeBotAPI, store: Engine, subscribe, add_story, clock: Clock, settle
) -> None:
    botapi.add_private_chat(ANN)
    botapi.add_private_chat(BOB)
    for chat, lang in ((ANN, "zh"), (BOB, "en")):
        subscribe(chat)
        subscribers.set_lang(store, chat, lang)
        subscribers.set_schedule(store, chat, digest="daily 09:00", tz="Asia/Shanghai")
    clock.set(at("2025-12-02 08:00", SHANGHAI))
    add_story("OpenAI 停止向中国大陆提供 API 服务")
    settle()
    clock.set(at("2025-12-02 09:00", SHANGHAI))
    settle()

    zh, en = botapi.messages(ANN)[0]["text"].split("\n"), botapi.messages(BOB)[0]["text"].split("\n")
    assert zh[0] == "📰 每日摘要，12月2日"
    assert "openai · 中国大陆 · 封锁" in zh[1] and zh[1].endswith(" 链接")
    assert en[0] == "📰 Your daily digest, 2 Dec"
    assert "openai · CN · block" in en[1] and en[1].endswith(" link")


def test_a_story_that_arrives_as_the_digests_go_out_is_not_in_them(
    botapi: FakeBotAPI, store: Engine, subscribe, add_story, clock: Clock, settle
) -> None:
    for chat in (ANN, BOB):
        botapi.add_private_chat(chat)
        subscribe(chat)
    subscribers.set_schedule(store, ANN, quiet="23:00-08:00")
    subscribers.set_schedule(store, BOB, digest="daily 08:00")
    clock.set(at("2025-12-01 23:30"))
    add_story("OpenAI 停止服务 held 1")
    add_story("OpenAI 停止服务 held 2")
    settle()

    clock.set(at("2025-12-02 08:00"))
    late = add_story("OpenAI 停止服务 late")
    settle()

    digest, alert = botapi.messages(ANN)  # quiet hours are over: the late story is an alert of its own
    assert digest["text"].startswith("🌙 2 alerts while you were away\n") and "late" not in digest["text"]
    assert alert["raw_text"] == render_alert(story_store.get(store, late))
    (daily,) = botapi.messages(BOB)  # the daily digest has gone: the late story waits for the next
    assert daily["text"].startswith("📰 Your daily digest, 2 Dec\n") and "late" not in daily["text"]
    bob = subscribers.get(store, BOB).id
    (waiting,) = [r for r in rows(store) if r.status == outbox.PENDING]
    assert (waiting.subscriber_id, waiting.story_id, waiting.next_attempt) == (
        bob,
        late,
        at("2025-12-03 08:00"),
    )


# ------------------------------------------------------------------------------ daily digests


def test_a_daily_digest_comes_at_its_time_in_the_subscribers_timezone(
    botapi: FakeBotAPI, store: Engine, subscribe, add_story, clock: Clock, settle
) -> None:
    botapi.add_private_chat(BOB)
    subscribe(BOB)
    subscribers.set_schedule(store, BOB, digest="daily 09:00", tz="Europe/Berlin")
    clock.set(at("2025-12-01 10:00", BERLIN))
    ids = [add_story(f"OpenAI 停止服务 {n}") for n in range(2)]
    settle()
    clock.set(at("2025-12-02 08:59", BERLIN))
    settle()
    assert botapi.sent == []

    clock.set(at("2025-12-02 09:00", BERLIN))  # 08:00 UTC
    settle()

    (digest,) = botapi.messages(BOB)
    lines = digest["text"].split("\n")
    assert lines[0] == "📰 Your daily digest, 2 Dec"
    for line, story_id in zip(lines[1:], ids, strict=True):
        published = story_store.get(store, story_id).published
        assert f"{published.astimezone(BERLIN):%m-%d %H:%M}) link" in line  # Berlin time, not UTC
    assert {(r.status, r.message_id) for r in rows(store)} == {("sent", digest["message_id"])}


# ------------------------------------------------------------------------------ long digests


def test_a_long_digest_continues_in_more_messages_sent_in_order_and_recorded_each(
    botapi: FakeBotAPI, store: Engine, subscribe, add_story, clock: Clock, settle
) -> None:
    botapi.add_private_chat(ANN)
    subscribe(ANN)
    subscribers.set_schedule(store, ANN, quiet="23:00-08:00")
    clock.set(at("2025-12-01 23:30"))
    numbers = {add_story(f"{n:02d} " + "OpenAI 停止服务，很长的标题😀" * 20): n for n in range(40)}
    settle()
    clock.set(at("2025-12-02 08:00"))
    botapi.fail_next("sendMessage", 502)  # the first message is retried; the second must wait for it

    settle(until=lambda _: outbox.counts(store) == {"sent": 40})

    messages = botapi.messages(ANN)
    assert len(messages) >= 2 and len(botapi.sent) == len(messages)  # each message once
    for n, message in enumerate(messages, 1):
        assert message["text"].startswith(f"🌙 40 alerts while you were away ({n}/{len(messages)})\n")
        assert utf16_len(message["text"]) <= 4096
    shown = [int(line[2:4]) for m in messages for line in m["text"].split("\n")[1:]]
    assert shown == list(range(40))
    by_id = {m["message_id"]: m["text"] for m in messages}
    for row in rows(store):  # each row is recorded with the message that shows it
        assert f"• {numbers[row.story_id]:02d} " in by_id[row.message_id]
    assert [e["error_code"] for e in botapi.errors] == [502]


# ------------------------------------------------------------------------------ what a digest is not


def test_a_digest_is_not_edited_when_more_outlets_report_its_stories(
    botapi: FakeBotAPI, store: Engine, subscribe, publish, clock: Clock, settle
) -> None:
    for chat in (ANN, BOB):
        botapi.add_private_chat(chat)
        subscribe(chat)
    subscribers.set_schedule(store, ANN, quiet="23:00-08:00")
    clock.set(at("2025-12-01 23:30"))
    first = publish(AZURE, AZURE_TEXT, source="ithome")
    settle()  # Bob has the alert; Ann's is held
    clock.set(at("2025-12-02 08:00"))
    settle()

    assert publish(AZURE_AGAIN, AZURE_AGAIN + "。企业客户不受影响。", source="cnbeta") == first
    settle()

    assert [e["chat_id"] for e in botapi.edits] == [BOB]  # Bob's alert says "also reported by"
    (digest,) = botapi.messages(ANN)
    assert digest["text"].startswith("🌙 1 alert while you were away") and "cnbeta" not in digest["text"]
    assert outbox.needing_edit(store) == []


def test_a_user_who_blocked_the_bot_while_alerts_were_held_is_deactivated_once(
    botapi: FakeBotAPI, store: Engine, subscribe, add_story, clock: Clock, settle
) -> None:
    botapi.add_private_chat(ANN)
    subscribe(ANN)
    subscribers.set_schedule(store, ANN, quiet="23:00-08:00")
    clock.set(at("2025-12-01 23:30"))
    add_story("OpenAI 停止服务 1")
    add_story("OpenAI 停止服务 2")
    settle()
    botapi.block(ANN)

    clock.set(at("2025-12-02 08:00"))
    settle()

    assert not subscribers.get(store, ANN).active
    assert outbox.counts(store) == {"dropped": 2}
    assert [e["error_code"] for e in botapi.errors] == [403]


# ------------------------------------------------------------------------------ the store


def test_held_rows_and_digest_messages_work_the_same_on_sqlite_and_postgresql(store_url: str) -> None:
    from newswatch.storage import connect

    engine = connect(store_url)
    try:
        now, release = at("2025-12-01 23:30"), at("2025-12-02 08:00")
        ann = subscribers.subscribe(engine, ANN, "private")[0].id
        bob = subscribers.subscribe(engine, BOB, "private")[0].id
        with engine.begin() as conn:
            for n in range(5):
                conn.execute(
                    schema.stories.insert().values(
                        id=f"s-{n}", title=f"t{n}", url=f"https://x.example/{n}", source="x", lang="en",
                        published=now, created=now, updated=now, tags={}, watched=[], outlets=[], queued=True,
                    )
                )  # fmt: skip
        for n in range(4):
            outbox.enqueue(engine, f"s-{n}", [ann, bob], now=now, held_until={ann: release})
        outbox.enqueue(engine, "s-4", [ann], now=now, held_until={ann: release})

        assert {r.chat_id for r in outbox.due(engine, now)} == {BOB}  # Ann's are held, not alerts
        assert outbox.held_due(engine, now) == []
        (held,) = outbox.held_due(engine, release)
        assert [r.story_id for r in held] == ["s-0", "s-1", "s-2", "s-3", "s-4"]
        assert outbox.reschedule_held(engine, ann, now) == 5  # e.g. /quiet off
        first, second = outbox.compose(
            engine, ann, [("part 1", [held[0].id, held[1].id]), ("part 2", [held[2].id, held[4].id])]
        )
        assert outbox.reschedule_held(engine, ann, release) == 1  # s-3 is in no message: still held

        (due,) = outbox.due_parts(engine, now)  # the second waits for the first
        assert (due.id, due.chat_id, due.text) == (first, ANN, "part 1")
        outbox.retry_later(engine, due, 1, at("2025-12-01 23:31"), "502")
        assert outbox.due_parts(engine, now) == []  # retried later, and the second still waits
        (due,) = outbox.due_parts(engine, at("2025-12-01 23:31"))
        assert due.attempts == 1
        outbox.mark_sent(engine, due, 777)
        (due,) = outbox.due_parts(engine, now)
        assert due.id == second
        sent = {
            r.story_id: r.message_id for r in rows(engine) if r.subscriber_id == ann and r.status == "sent"
        }
        assert sent == {"s-0": 777, "s-1": 777}  # the message's rows together, with its id

        with engine.begin() as conn:  # more outlets: Bob's alerts need an edit, Ann's digest never
            conn.execute(schema.stories.update().values(article_count=2))
            bobs = schema.outbox.c.subscriber_id == bob
            conn.execute(schema.outbox.update().where(bobs).values(status="sent", message_id=1))
        assert {r.chat_id for r in outbox.needing_edit(engine)} == {BOB}

        # Ann's group became the supergroup Bob's chat stands for: what only Ann had moves over, out
        # of Ann's digest message, and is held for Bob's next digest
        subscribers.migrate_chat(engine, ANN, BOB)
        assert outbox.due_parts(engine, now) == []
        (moved,) = outbox.held_due(engine, release)
        assert [(r.subscriber_id, r.story_id) for r in moved] == [(bob, "s-4")]
        outbox.drop_for_subscriber(engine, bob, "unsubscribed with /stop")
        assert outbox.held_due(engine, release) == [] and "pending" not in outbox.counts(engine)
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------ commands


@pytest.fixture
def config(store: Engine, botapi: FakeBotAPI, tmp_path: Path) -> Config:
    return Config(
        path=tmp_path / "config.toml",
        storage_url=store.url.render_as_string(hide_password=False),
        sources=(),
        telegram=TelegramConfig(token=botapi.token, api_base_url=botapi.base_url),
    )


@pytest.fixture
def bot(botapi: FakeBotAPI, config: Config, clock: Clock) -> Iterator[RunningBot]:
    """The service's bot and delivery, both on ``clock``."""
    for user in (ANN, BOB):
        botapi.add_private_chat(user, f"user{user}")
    botapi.add_group(GROUP, "Newsroom", admins=[GROUP_ADMIN], members=[MEMBER])
    with RunningBot(config) as running:
        running.service.delivery.clock = clock
        running.service.app.bot_data["clock"] = clock
        yield running


def deliver(bot: RunningBot) -> None:
    bot.call(bot.service.delivery.run_once())


def test_quiet_digest_and_tz_move_what_is_held_and_quiet_off_sends_it_at_once(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine, add_story, clock: Clock
) -> None:
    clock.set(at("2025-12-01 23:30"))
    ask(botapi, ANN, "/start", "Subscribed.")
    ask(botapi, ANN, "/quiet 23:00-08:00", "Quiet hours 23:00-08:00 (UTC): alerts then are held")
    add_story("OpenAI 停止服务 1")
    add_story("OpenAI 停止服务 2")
    deliver(bot)
    replies = len(botapi.messages(ANN))

    ask(botapi, ANN, "/digest daily 09:00", "The 2 alerts held back come at 2025-12-02 09:00.")
    ask(botapi, ANN, "/tz Asia/Shanghai", "held back come at 2025-12-02 09:00.")  # 09:00 in Shanghai
    ask(botapi, ANN, "/tz UTC", "The 2 alerts held back come at 2025-12-02 09:00.")
    ask(
        botapi,
        ANN,
        "/digest off",
        "Daily digest off: alerts come as they happen. The 2 alerts held back come at 2025-12-02 08:00.",
    )
    deliver(bot)
    assert len(botapi.messages(ANN)) == replies + 4  # the replies, no alert
    ask(
        botapi,
        ANN,
        "/quiet off",
        "Quiet hours off: alerts come as they happen. The 2 alerts held back come now, in one digest.",
    )

    deliver(bot)

    digest = botapi.messages(ANN)[-1]
    assert digest["text"].startswith("🌙 2 alerts while you were away\n")
    assert outbox.counts(store) == {"sent": 2}


def test_a_chinese_subscriber_is_told_in_chinese_what_happens_to_held_alerts(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine, add_story, clock: Clock
) -> None:
    clock.set(at("2025-12-01 23:30", SHANGHAI))
    botapi.add_private_chat(LI, language_code="zh-hans")
    ask(botapi, LI, "/start", "订阅成功。")
    ask(botapi, LI, "/quiet 23:00-08:00", "免打扰时段 23:00-08:00（Asia/Shanghai）：期间的提醒会暂存")
    add_story("OpenAI 停止服务 1")
    add_story("OpenAI 停止服务 2")
    deliver(bot)

    ask(botapi, LI, "/quiet off", "免打扰已关闭：提醒即时发送。暂存的 2 条提醒现在合并成一份摘要发送。")
    deliver(bot)
    assert botapi.messages(LI)[-1]["text"].startswith("🌙 你不在时的 2 条提醒\n")


def test_stop_drops_what_is_held(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine, add_story, clock: Clock
) -> None:
    clock.set(at("2025-12-01 23:30"))
    ask(botapi, ANN, "/start", "Subscribed.")
    ask(botapi, ANN, "/quiet 23:00-08:00", "Quiet hours")
    add_story("OpenAI 停止服务 1")
    deliver(bot)
    ask(botapi, ANN, "/stop", "Unsubscribed")
    ask(botapi, ANN, "/start", "Subscribed.")  # the schedule is kept, like the other choices
    replies = len(botapi.messages(ANN))

    clock.set(at("2025-12-02 08:00"))
    deliver(bot)

    assert len(botapi.messages(ANN)) == replies  # no stale digest after coming back
    assert outbox.counts(store) == {"dropped": 1}
    assert subscribers.get(store, ANN).quiet == "23:00-08:00"


def test_the_settings_are_shown_set_and_cleared(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine, subscribe, clock: Clock
) -> None:
    subscribe(ANN)
    clock.set(at("2025-12-01 12:00"))
    ask(
        botapi,
        ANN,
        "/quiet",
        "No quiet hours: alerts come as they happen. /quiet 23:00-08:00 sets them (in UTC).",
    )
    ask(botapi, ANN, "/quiet ２３：００－０７：３０", "Quiet hours 23:00-07:30 (UTC)")
    ask(botapi, ANN, "/quiet", "Quiet hours: 23:00-07:30 (UTC).")
    ask(botapi, ANN, "/digest", "No daily digest")
    ask(
        botapi,
        ANN,
        "/digest daily 7:05",
        "One digest a day at 07:05 (UTC) instead of instant alerts. /digest off ends it. "
        "It falls in your quiet hours (23:00-07:30), so it comes when they end.",
    )
    ask(botapi, ANN, "/digest", "One digest a day at 07:05 (UTC)")
    ask(botapi, ANN, "/tz", "Your timezone: UTC (the default).")
    ask(botapi, ANN, "/tz asia/shanghai", "Timezone: Asia/Shanghai, where it is 20:00 now.")
    ask(botapi, ANN, "/tz", "Your timezone: Asia/Shanghai. Change it")
    ask(botapi, ANN, "/quiet", "Quiet hours: 23:00-07:30 (Asia/Shanghai).")
    ask(botapi, ANN, "/digest off", "Daily digest off")
    ask(botapi, ANN, "/quiet OFF", "Quiet hours off")
    sub = subscribers.get(store, ANN)
    assert (sub.tz, sub.quiet, sub.digest) == ("Asia/Shanghai", None, None)


BAD_INPUT = [
    (
        "/quiet 23-08",
        "Not set: write the hours as /quiet 23:00-08:00 (24-hour clock, in UTC), or /quiet off.",
    ),
    ("/quiet 25:00-08:00", "Not set: write the hours as /quiet 23:00-08:00"),
    ("/quiet <b>night</b> & day", "Not set: write the hours as /quiet 23:00-08:00"),
    (
        "/quiet 08:00-08:00",
        "Not set: quiet hours must end at another time than they start, e.g. /quiet 23:00-08:00.",
    ),
    ("/digest weekly 09:00", "Usage: /digest daily 09:00 (24-hour clock, in UTC) or /digest off."),
    ("/digest daily 9", "Usage: /digest daily 09:00"),
    ("/digest 09:00", "Usage: /digest daily 09:00"),
    (
        "/tz UTC+8",
        "“UTC+8” is not a timezone name. Use an IANA name, e.g. /tz Asia/Shanghai or /tz Europe/London.",
    ),
    ("/tz Beijing", "“Beijing” is not a timezone name."),
    ("/tz ../../etc/passwd", "“../../etc/passwd” is not a timezone name."),
    ("/tz <script>&", "“<script>&” is not a timezone name."),
    ("/tz " + "x" * 1000, "“" + "x" * 39 + "…” is not a timezone name."),
]


def test_bad_input_gets_a_clear_answer_with_an_example(
    bot: RunningBot, botapi: FakeBotAPI, store, subscribe
) -> None:
    answers = ask_each(botapi, [text for text, _ in BAD_INPUT], subscribe)
    for (text, expect), answer in zip(BAD_INPUT, answers, strict=True):
        assert answer.startswith(expect), f"{text[:30]!r} -> {answer!r}"
        assert len(answer) < 200
    assert all((s.tz, s.quiet, s.digest) == (None, None, None) for s in subscribers.active(store))


def test_the_settings_are_for_subscribers_and_in_groups_for_admins(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine, subscribe
) -> None:
    ask(botapi, BOB, "/quiet 23:00-08:00", "Send /start first")
    subscribe(GROUP)
    ask(botapi, GROUP, "/tz Asia/Shanghai", "Only an admin", user=MEMBER)
    ask(botapi, GROUP, "/tz Asia/Shanghai", "Timezone: Asia/Shanghai", user=GROUP_ADMIN)
    assert subscribers.get(store, GROUP).tz == "Asia/Shanghai"


def test_chinese_subscribers_default_to_utc_plus_8(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine, subscribe
) -> None:
    subscribe(ANN)
    with store.begin() as conn:
        conn.execute(schema.subscribers.update().values(lang="zh"))
    ask(botapi, ANN, "/tz", "你的时区：Asia/Shanghai（默认）。")  # and the answers are in Chinese
    ask(botapi, ANN, "/digest daily 09:00", "每天 09:00（Asia/Shanghai）发送一份摘要")


def test_latest_shows_times_in_the_subscribers_timezone(
    bot: RunningBot, botapi: FakeBotAPI, store: Engine, subscribe, add_story
) -> None:
    subscribe(ANN)
    add_story("OpenAI 停止服务", published=at("2025-12-01 17:05"))
    ask(botapi, ANN, "/latest", "(ithome, 12-01 17:05)")
    ask(botapi, ANN, "/tz Asia/Shanghai", "Timezone")
    ask(botapi, ANN, "/latest", "(ithome, 12-02 01:05)")


def test_help_and_the_command_list_name_the_new_commands(bot: RunningBot, botapi: FakeBotAPI) -> None:
    answer = ask(botapi, ANN, "/help", "/quiet 23:00-08:00")
    assert "/digest daily 09:00" in answer and "/tz Asia/Shanghai" in answer
    assert {"quiet", "digest", "tz"} <= {c.command for c in COMMANDS}


# ------------------------------------------------------------------------------ crash safety


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_service_killed_mid_digest_sends_each_message_at_most_once_more_per_chat(
    tmp_path: Path, botapi: FakeBotAPI, store: Engine, subscribe, add_story
) -> None:
    chats = range(1, 81)
    for chat in chats:
        botapi.add_private_chat(chat)
        subscribe(chat)
        subscribers.set_schedule(store, chat, quiet="23:00-08:00")
    for n in range(20):  # two messages a digest
        add_story(f"{n:02d} " + "OpenAI 停止服务，很长的标题😀" * 20)
    # held at 23:30 on a night long gone: the service, on the real clock, finds them due
    Delivery(store, ConsoleSender(), AlertsConfig(), clock=Clock(at("2025-12-01 23:30"))).fanout()
    assert outbox.counts(store) == {"pending": 20 * len(chats)}
    config, log = service_config(tmp_path, store, botapi), tmp_path / "service.log"

    # 1. kill -9 mid-digest: no chance to record what was in flight
    first = start_service(config, log)
    try:
        assert botapi.wait_for(lambda api: len(api.sent) >= 50, timeout=30), log.read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(5)
    finally:
        first.kill()
    reached = collections.Counter(m["chat_id"] for m in botapi.sent)
    assert len(reached) < len(chats) and 1 in reached.values()  # some chats had only their first message
    with store.connect() as conn:
        composed = conn.execute(select(schema.digest_parts.c.id)).all()
    assert len(composed) == 2 * len(chats)  # composed once, before the kill; never again

    # 2. restart: the rest, the unrecorded ones once more
    second = start_service(config, log)
    try:
        assert botapi.wait_for(
            lambda api: len({(m["chat_id"], m["text"]) for m in api.sent}) == 2 * len(chats), timeout=60
        )
        time.sleep(1.0)  # anything still to come would come now
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(10) == 0

    times = collections.Counter((m["chat_id"], m["text"]) for m in botapi.sent)
    assert {chat for chat, _ in times} == set(chats)  # nothing lost
    for chat in chats:
        headings = sorted(text.split("\n")[0] for c, text in times if c == chat)
        assert headings == [
            "🌙 20 alerts while you were away (1/2)",
            "🌙 20 alerts while you were away (2/2)",
        ]
    assert max(times.values()) <= 2  # each message at most once more
    assert sum(times.values()) - len(times) <= 16  # only what was in flight at the kill
    assert outbox.counts(store) == {"sent": 20 * len(chats)}
    with store.connect() as conn:
        assert len(conn.execute(select(schema.digest_parts.c.id)).all()) == len(composed)
