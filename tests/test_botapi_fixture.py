"""The fake Bot API answers real python-telegram-bot the way Telegram does.

These tests pin the fixture's behaviour, because newswatch's own tests trust it: if the fake were
more lenient than Telegram (HTML, lengths, flood limits, blocked users, migrated groups), bugs would
pass the tests and fail in production. Everything goes through PTB's real HTTP stack to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from tests.fixtures.botapi import EntityParseError, FakeBotAPI, parse_html

# PTB itself reads the deprecated int RetryAfter.retry_after when building the exception message.
pytestmark = pytest.mark.filterwarnings("ignore:.*`retry_after` will be of type:DeprecationWarning")

PRIVATE = 4242
OTHER = 4343
GROUP = -100
ADMIN = 7
T = TypeVar("T")


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as server:
        server.add_private_chat(PRIVATE, "Ann")
        server.add_private_chat(OTHER, "Bob")
        server.add_group(GROUP, "Newsroom", admins=[ADMIN])
        yield server


def with_bot(api: FakeBotAPI, action: Callable[[Bot], Awaitable[T]]) -> T:
    """Run one async action with a real, initialised PTB Bot pointed at the fake."""

    async def go() -> T:
        async with Bot(api.token, base_url=api.base_url) as bot:
            return await action(bot)

    return asyncio.run(go())


def raw_call(
    api: FakeBotAPI,
    method: str,
    body: bytes | None = None,
    content_type: str = "application/x-www-form-urlencoded",
    query: str = "",
    token: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """One HTTP request without PTB, to see status codes and bodies exactly as the server sends them."""
    url = f"{api.base_url}{token or api.token}/{method}" + (f"?{query}" if query else "")
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type} if body else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# ------------------------------------------------------------------------------------------- basics


def test_get_me_describes_the_configured_bot(api: FakeBotAPI) -> None:
    me = with_bot(api, lambda bot: bot.get_me())
    assert (me.id, me.is_bot, me.username) == (123456, True, "newswatch_test_bot")


def test_a_wrong_token_is_unauthorized(api: FakeBotAPI) -> None:
    async def get_me_with_bad_token(_: Bot) -> None:
        async with Bot("999:WRONG", base_url=api.base_url) as other:
            await other.get_me()

    with pytest.raises(InvalidToken):
        with_bot(api, get_me_with_bad_token)
    assert raw_call(api, "getMe", token="999:WRONG") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )


def test_an_unknown_method_is_not_found(api: FakeBotAPI) -> None:
    assert raw_call(api, "sendTelepathy") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    with pytest.raises(EndPointNotFound):
        with_bot(api, lambda bot: bot.do_api_request("sendTelepathy"))


def test_requests_are_accepted_as_form_json_query_and_multipart(api: FakeBotAPI) -> None:
    api.enforce_limits = False  # four messages in a row to one private chat would exceed the burst
    form = urllib.parse.urlencode({"chat_id": PRIVATE, "text": "form"}).encode()
    assert raw_call(api, "sendMessage", form)[0] == 200
    assert (
        raw_call(
            api, "sendMessage", json.dumps({"chat_id": PRIVATE, "text": "json"}).encode(), "application/json"
        )[0]
        == 200
    )
    assert raw_call(api, "sendMessage", query=f"chat_id={PRIVATE}&text=query")[0] == 200
    boundary = "fakeBoundary42"
    multipart = (
        "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in (("chat_id", PRIVATE), ("text", "multipart"))
        )
        + f"--{boundary}--\r\n"
    )
    status, body = raw_call(
        api, "sendMessage", multipart.encode(), f"multipart/form-data; boundary={boundary}"
    )
    assert status == 200 and body["result"]["chat"]["id"] == PRIVATE
    assert [m["text"] for m in api.sent] == ["form", "json", "query", "multipart"]
    assert [m["message_id"] for m in api.sent] == [1, 2, 3, 4]  # per-chat increasing


# ------------------------------------------------------------------------------------------- HTML


def test_an_html_message_is_delivered_with_entities_and_can_be_edited(api: FakeBotAPI) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Unsubscribe", callback_data="unsub:1")]])

    async def send_and_edit(bot: Bot) -> tuple[Any, Any]:
        sent = await bot.send_message(
            PRIVATE,
            '<b>OpenAI</b> restricted in <a href="https://example.com/a?x=1&amp;y=2">CN</a> &lt;3',
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard,
            disable_notification=True,
        )
        edited = await bot.edit_message_text(
            "<i>Restored</i>", chat_id=PRIVATE, message_id=sent.message_id, parse_mode=ParseMode.HTML
        )
        return sent, edited

    sent, edited = with_bot(api, send_and_edit)
    assert sent.text == "OpenAI restricted in CN <3"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 6), ("text_link", 21, 2)]
    assert sent.entities[1].url == "https://example.com/a?x=1&y=2"
    assert sent.reply_markup == keyboard
    assert sent.from_user.username == "newswatch_test_bot" and sent.chat.first_name == "Ann"

    record = api.sent[0]
    assert record["raw_text"].startswith("<b>OpenAI</b>") and record["text"] == sent.text
    assert record["parse_mode"] == "HTML" and record["disable_notification"] is True
    assert record["reply_markup"] == keyboard.to_dict()

    assert edited.text == "Restored" and edited.edit_date is not None
    assert edited.reply_markup is None  # editMessageText without reply_markup drops the keyboard
    assert [m["text"] for m in api.messages(PRIVATE)] == ["Restored"]
    assert api.edits[0]["message_id"] == sent.message_id


def test_an_identical_edit_is_not_modified(api: FakeBotAPI) -> None:
    async def edit_twice(bot: Bot) -> None:
        sent = await bot.send_message(PRIVATE, "<b>same</b>", parse_mode=ParseMode.HTML)
        await bot.edit_message_text(
            "<b>same</b>", chat_id=PRIVATE, message_id=sent.message_id, parse_mode="HTML"
        )

    with pytest.raises(BadRequest, match="not modified"):
        with_bot(api, edit_twice)
    assert api.errors[-1]["description"].startswith("Bad Request: message is not modified: specified new")
    with pytest.raises(BadRequest, match="Message to edit not found"):
        with_bot(api, lambda bot: bot.edit_message_text("x", chat_id=PRIVATE, message_id=999))


@pytest.mark.parametrize(
    ("html", "description"),
    [
        ("<b>Alert</b><div>x</div>", 'Unsupported start tag "div" at byte offset 12'),
        ("price < 5", 'Unsupported start tag "" at byte offset 6'),
        ("<b>never closed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<i>a<b>b</i></b>", 'Unmatched end tag at byte offset 8, expected "</b>", found "</i>"'),
        ("text</b>", "Unexpected end tag at byte offset 4"),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("ends with <", "Unclosed start tag at byte offset 10"),
    ],
)
def test_html_telegram_refuses_is_refused_with_its_description(html: str, description: str) -> None:
    with pytest.raises(EntityParseError) as caught:
        parse_html(html)
    assert str(caught.value) == description


def test_bad_html_raises_bad_request_through_ptb(api: FakeBotAPI) -> None:
    with pytest.raises(BadRequest, match="unsupported start tag"):
        with_bot(api, lambda bot: bot.send_message(PRIVATE, "<b>Alert</b><div>x</div>", parse_mode="HTML"))
    assert api.errors[-1] == {
        "method": "sendMessage",
        "chat_id": PRIVATE,
        "error_code": 400,
        "description": 'Bad Request: can\'t parse entities: Unsupported start tag "div" at byte offset 12',
        "parameters": None,
    }
    assert api.sent == []


def test_html_entities_follow_telegrams_parser() -> None:
    text, entities = parse_html(
        '😀 <b>bold <i>both</i></b> <pre><code class="language-python">x = 1</code></pre> '
        "<tg-spoiler>s</tg-spoiler> <blockquote expandable>q</blockquote> AT&T &#x41;&#66;",
        strict_ampersand=False,  # Telegram's own behaviour: a stray '&' is kept
    )
    assert text == "😀 bold both x = 1 s q AT&T AB"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 9},  # offsets in UTF-16 units: the emoji counts 2
        {"type": "italic", "offset": 8, "length": 4},
        {"type": "pre", "offset": 13, "length": 5, "language": "python"},
        {"type": "spoiler", "offset": 19, "length": 1},
        {"type": "expandable_blockquote", "offset": 21, "length": 1},
    ]
    with pytest.raises(EntityParseError, match="Can't find end of the entity starting at byte offset 2"):
        parse_html("AT&T")  # the default follows the documented rule: '&' must be escaped


def test_length_is_counted_after_parsing_in_utf16_units(api: FakeBotAPI) -> None:
    ok = with_bot(api, lambda bot: bot.send_message(PRIVATE, f"<b>{'a' * 4096}</b>", parse_mode="HTML"))
    assert len(ok.text) == 4096
    with pytest.raises(BadRequest, match="Message is too long"):
        with_bot(api, lambda bot: bot.send_message(OTHER, "a" * 4097))
    with pytest.raises(BadRequest, match="Message is too long"):
        with_bot(api, lambda bot: bot.send_message(OTHER, "😀" * 2049))  # 4098 UTF-16 units
    with pytest.raises(BadRequest, match="Message text is empty"):
        with_bot(api, lambda bot: bot.send_message(OTHER, "<b> </b>\n", parse_mode="HTML"))
    assert len(api.sent) == 1


# ------------------------------------------------------------------------------------------- chats


def test_a_blocked_user_is_forbidden(api: FakeBotAPI) -> None:
    api.block(PRIVATE)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        with_bot(api, lambda bot: bot.send_message(PRIVATE, "alert"))
    assert api.errors[-1]["error_code"] == 403 and api.sent == []


def test_an_unknown_chat_is_not_found(api: FakeBotAPI) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        with_bot(api, lambda bot: bot.send_message(999, "alert"))


def test_a_migrated_group_raises_chat_migrated_with_the_new_id(api: FakeBotAPI) -> None:
    api.migrate(GROUP, -1001234567890)
    with pytest.raises(ChatMigrated) as caught:
        with_bot(api, lambda bot: bot.send_message(GROUP, "alert"))
    assert caught.value.new_chat_id == -1001234567890
    assert api.errors[-1]["description"] == "Bad Request: group chat was upgraded to a supergroup chat"
    moved = with_bot(api, lambda bot: bot.send_message(-1001234567890, "alert"))
    assert moved.chat.type == "supergroup" and moved.chat.title == "Newsroom"


def test_members_and_administrators_have_telegrams_statuses(api: FakeBotAPI) -> None:
    api.send_text(GROUP, "hello", user_id=55)

    async def look(bot: Bot) -> list[str]:
        statuses = [(await bot.get_chat_member(GROUP, uid)).status for uid in (ADMIN, 55, PRIVATE)]
        admins = await bot.get_chat_administrators(GROUP)
        chat = await bot.get_chat(GROUP)
        return [*statuses, *(a.status for a in admins), chat.title]

    assert with_bot(api, look) == ["creator", "member", "left", "creator", "Newsroom"]
    api.add_group(-200, "Ops", admins=[ADMIN, 8, api.bot_id])
    admins = with_bot(api, lambda bot: bot.get_chat_administrators(-200))
    assert [(a.user.id, a.status) for a in admins] == [
        (ADMIN, "creator"),
        (8, "administrator"),
        (api.bot_id, "administrator"),
    ]


# ------------------------------------------------------------------------------------------- flood limits


def test_a_burst_to_one_private_chat_hits_retry_after_on_the_fourth(api: FakeBotAPI) -> None:
    async def five_quick(bot: Bot) -> list[str]:
        outcomes = []
        for n in range(5):
            try:
                await bot.send_message(PRIVATE, f"alert {n}")
                outcomes.append("ok")
            except RetryAfter:
                outcomes.append("retry after")
        return outcomes

    assert with_bot(api, five_quick) == ["ok", "ok", "ok", "retry after", "retry after"]
    assert [m["text"] for m in api.sent] == ["alert 0", "alert 1", "alert 2"]  # refused ones not delivered
    assert api.too_many_requests == 2
    assert api.too_many_requests_by_chat == {PRIVATE: 2}
    assert api.errors[-1]["description"] == "Too Many Requests: retry after 1"
    assert api.errors[-1]["parameters"] == {"retry_after": 1}


def test_the_global_limit_counts_every_chat() -> None:
    with FakeBotAPI(global_rate=5) as api:
        chats = range(1001, 1007)
        for chat_id in chats:
            api.add_private_chat(chat_id)

        async def one_each(bot: Bot) -> None:
            for chat_id in chats:
                await bot.send_message(chat_id, "alert")

        with pytest.raises(RetryAfter):
            with_bot(api, one_each)
        assert len(api.sent) == 5 and api.too_many_requests_by_method == {"sendMessage": 1}


def test_a_group_gets_20_messages_a_minute(api: FakeBotAPI) -> None:
    async def flood(bot: Bot) -> None:
        for n in range(21):
            await bot.send_message(GROUP, f"alert {n}")
            await asyncio.sleep(0.035)  # stay under the global 30/s

    with pytest.raises(RetryAfter):
        with_bot(api, flood)
    assert len(api.sent) == 20
    assert 55 <= api.errors[-1]["parameters"]["retry_after"] <= 60


def test_waiting_retry_after_lets_the_next_message_through() -> None:
    now = [1000.0]
    with FakeBotAPI(clock=lambda: now[0]) as api:
        api.add_private_chat(PRIVATE)

        async def send(bot: Bot) -> None:
            await bot.send_message(PRIVATE, "alert")

        for _ in range(3):
            with_bot(api, send)
        with pytest.raises(RetryAfter):
            with_bot(api, send)
        now[0] += api.errors[-1]["parameters"]["retry_after"]
        with_bot(api, send)
        assert len(api.sent) == 4


def test_limits_can_be_switched_off(api: FakeBotAPI) -> None:
    api.enforce_limits = False

    async def many(bot: Bot) -> None:
        for n in range(10):
            await bot.send_message(PRIVATE, f"alert {n}")

    with_bot(api, many)
    assert len(api.sent) == 10 and api.too_many_requests == 0


# ------------------------------------------------------------------------------------------- updates


def test_a_user_command_arrives_through_get_updates(api: FakeBotAPI) -> None:
    api.send_text(PRIVATE, "/start")
    api.send_text(GROUP, "/subscribe@newswatch_test_bot openai", user_id=ADMIN)

    async def poll(bot: Bot) -> tuple[tuple[Update, ...], tuple[Update, ...]]:
        first = await bot.get_updates(timeout=1)
        again = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
        return first, again

    updates, after_confirm = with_bot(api, poll)
    start, subscribe = (u.message for u in updates)
    assert start.text == "/start" and start.chat.id == PRIVATE and start.from_user.id == PRIVATE
    assert start.entities[0].type == "bot_command" and start.entities[0].length == 6
    assert subscribe.parse_entities(["bot_command"]).popitem()[1] == "/subscribe@newswatch_test_bot"
    assert subscribe.chat.type == "group" and subscribe.from_user.id == ADMIN
    assert after_confirm == ()
    assert api.pending_updates == []


def test_a_long_poll_returns_as_soon_as_an_update_arrives(api: FakeBotAPI) -> None:
    threading.Timer(0.3, api.send_text, args=(PRIVATE, "hi")).start()
    started = time.monotonic()
    updates = with_bot(api, lambda bot: bot.get_updates(timeout=10))
    assert [u.message.text for u in updates] == ["hi"]
    assert time.monotonic() - started < 3


def test_a_second_poller_conflicts_with_the_first(api: FakeBotAPI) -> None:
    async def two_pollers(bot: Bot) -> None:
        first = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.3)
        async with Bot(api.token, base_url=api.base_url) as other:
            second = asyncio.create_task(other.get_updates(timeout=1))
            try:
                await first
            finally:
                await second

    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        with_bot(api, two_pollers)


def test_stop_returns_quickly_while_a_long_poll_is_in_flight() -> None:
    api = FakeBotAPI().start()

    async def poll_then_stop(bot: Bot) -> float:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await asyncio.to_thread(api.stop)
        elapsed = time.monotonic() - started
        with contextlib.suppress(NetworkError):  # the poll ends empty or with a closed connection
            await asyncio.wait_for(poll, 5)
        return elapsed

    assert with_bot(api, poll_then_stop) < 2


def test_stop_cuts_idle_keep_alive_connections() -> None:
    api = FakeBotAPI().start()
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    connection.request("GET", f"/bot{api.token}/getMe")
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Connection") != "close"
    response.read()
    started = time.monotonic()
    api.stop()
    assert time.monotonic() - started < 2
    with pytest.raises((OSError, http.client.HTTPException)):
        connection.request("GET", f"/bot{api.token}/getMe")
        connection.getresponse()
    connection.close()


def test_a_button_press_reaches_the_bot_and_is_answered(api: FakeBotAPI) -> None:
    async def flow(bot: Bot) -> None:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Mute", callback_data="mute")]])
        sent = await bot.send_message(PRIVATE, "alert", reply_markup=keyboard)
        api.press_button(PRIVATE, sent.message_id, "mute")
        (update,) = await bot.get_updates(timeout=1)
        query = update.callback_query
        assert (query.data, query.message.message_id, query.from_user.id) == (
            "mute",
            sent.message_id,
            PRIVATE,
        )
        await query.answer("Muted")
        await query.edit_message_reply_markup(None)
        with pytest.raises(BadRequest, match="Query is too old"):
            await query.answer("again")

    with_bot(api, flow)
    assert api.callback_answers[0]["text"] == "Muted" and api.callback_answers[0]["data"] == "mute"
    assert api.messages(PRIVATE)[0]["reply_markup"] is None
    with pytest.raises(ValueError, match="no button"):
        api.press_button(PRIVATE, 1, "not-a-button")


def test_commands_are_set_read_and_deleted(api: FakeBotAPI) -> None:
    async def flow(bot: Bot) -> tuple[Any, Any]:
        await bot.set_my_commands([("start", "Subscribe"), ("stop", "Unsubscribe")])
        read = await bot.get_my_commands()
        await bot.delete_my_commands()
        return read, await bot.get_my_commands()

    read, after = with_bot(api, flow)
    assert [c.command for c in read] == ["start", "stop"] and after == ()
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        with_bot(api, lambda bot: bot.set_my_commands([("Bad Command!", "x")]))


def test_commands_are_kept_per_language(api: FakeBotAPI) -> None:
    async def flow(bot: Bot) -> tuple[Any, Any]:
        await bot.set_my_commands([("start", "Subscribe")])
        await bot.set_my_commands([("start", "订阅")], language_code="zh")
        return await bot.get_my_commands(), await bot.get_my_commands(language_code="zh")

    default, chinese = with_bot(api, flow)
    assert [c.description for c in default] == ["Subscribe"] and [c.description for c in chinese] == ["订阅"]
    assert api.commands_for(language_code="zh") == [{"command": "start", "description": "订阅"}]
    with pytest.raises(BadRequest, match="Invalid language code specified"):  # as Telegram answers
        with_bot(api, lambda bot: bot.set_my_commands([("start", "订阅")], language_code="zh-hans"))


# ------------------------------------------------------------------------------------------- faults


def test_injected_failures_and_slow_answers(api: FakeBotAPI) -> None:
    api.fail_next("sendMessage", 502)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        with_bot(api, lambda bot: bot.send_message(PRIVATE, "first try"))
    assert api.sent == [] and api.errors[-1]["error_code"] == 502

    api.delay_next("sendMessage", 1.0)
    with pytest.raises(TimedOut):
        with_bot(api, lambda bot: bot.send_message(PRIVATE, "slow", read_timeout=0.2))
    assert api.wait_for_message(PRIVATE, "slow", timeout=3) is not None  # delivered anyway, like Telegram


# ------------------------------------------------------------------------------------------- end to end


def test_an_application_replies_to_start_end_to_end(api: FakeBotAPI) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_user is not None
        await update.effective_message.reply_html(f"Welcome, <b>{update.effective_user.first_name}</b>!")

    async def run_app() -> tuple[Any, Any]:
        app = ApplicationBuilder().token(api.token).base_url(api.base_url).build()
        app.add_handler(CommandHandler("start", start))
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.05, timeout=1)
            api.send_text(PRIVATE, "/start")
            api.send_text(GROUP, "/start@newswatch_test_bot", user_id=ADMIN)
            private = await asyncio.to_thread(api.wait_for_message, PRIVATE, "Welcome", 5)
            group = await asyncio.to_thread(api.wait_for_message, GROUP, "Welcome", 5)
            await app.updater.stop()
            await app.stop()
        return private, group

    private, group = asyncio.run(run_app())
    assert private is not None and private["text"] == "Welcome, Ann!"
    assert private["entities"] == [{"type": "bold", "offset": 9, "length": 3}]
    assert group is not None and group["text"] == f"Welcome, User {ADMIN}!"
    assert api.pending_updates == []  # the updater confirmed what it handled
    assert api.errors == []  # an abandoned long poll is not answered with a 409
