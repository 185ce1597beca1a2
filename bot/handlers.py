"""Command handlers: short functions that check input, call the store, and reply.

Everything a user typed is escaped before it goes back into an HTML reply. Group chats: only the
group's admins may change its subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

from sqlalchemy import Engine
from telegram import BotCommand, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.ext import ContextTypes

from newswatch.config import Config
from newswatch.detect.keywords import clean_keyword, keyword_form
from newswatch.storage import outbox, subscribers
from newswatch.storage import sources as source_store
from newswatch.storage import stories as story_store
from newswatch.storage.subscribers import MAX_KEYWORDS

from . import keyboards
from .choices import story_text, wants
from .delivery import retry_seconds
from .pacing import Pacer
from .render import esc, join_within, render_story_line
from .schedule import Schedule

COMMANDS = [
    BotCommand("start", "Subscribe to alerts"),
    BotCommand("stop", "Unsubscribe"),
    BotCommand("regions", "Choose regions"),
    BotCommand("providers", "Choose providers"),
    BotCommand("watch", "Watch a keyword: /watch KEYWORD"),
    BotCommand("unwatch", "Stop watching a keyword"),
    BotCommand("keywords", "List your keywords"),
    BotCommand("latest", "The latest alerts: /latest [N]"),
    BotCommand("lang", "Alerts lead with Chinese or English reports: /lang zh|en"),
    BotCommand("tracker", "What is restricted where: /tracker [provider|region]"),
    BotCommand("quiet", "Hold alerts at night: /quiet 23:00-08:00 or /quiet off"),
    BotCommand("digest", "One digest a day instead: /digest daily 09:00 or /digest off"),
    BotCommand("tz", "Your timezone: /tz Asia/Shanghai"),
    BotCommand("help", "How this bot works"),
]
HELP = (
    "I send an alert when an AI service (ChatGPT, the OpenAI API, Azure OpenAI, Gemini, Claude, "
    "DeepSeek…) is blocked, banned, suspended, discontinued or restricted in a country or region — or "
    "when such a restriction is lifted. One alert per event, however many outlets report it, and an "
    "update when it takes effect, is lifted or reaches further.\n\n"
    "/start — subscribe\n/stop — unsubscribe\n/regions — only some regions (default: all)\n"
    "/providers — only some providers (default: all)\n/watch KEYWORD — also get any story mentioning it\n"
    "/unwatch KEYWORD\n/keywords — your keywords\n/latest [N] — the last N alerts (1–20)\n"
    "/lang zh|en — lead alerts with the Chinese or the English report when there are both\n"
    "/tracker [provider|region] — what is restricted where, and since when\n"
    "/quiet 23:00-08:00 — hold alerts then, and get them as one digest when the hours end (/quiet off)\n"
    "/digest daily 09:00 — one digest a day instead of instant alerts (/digest off)\n"
    "/tz Asia/Shanghai — your timezone, an IANA name (default: UTC+8 for Chinese, UTC otherwise)"
)
MAX_LATEST = 20


def _engine(context: ContextTypes.DEFAULT_TYPE) -> Engine:
    return context.bot_data["engine"]


def _config(context: ContextTypes.DEFAULT_TYPE) -> Config:
    return context.bot_data["config"]


async def _db(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Store calls run in a thread: a crawl holding SQLite's write lock must not stall the bot."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, **kwargs: Any) -> None:
    """Answer in the chat, within the same pace as alerts, waiting out a flood limit if one comes."""
    await _paced(
        context,
        update.effective_chat.id,
        lambda: update.effective_message.reply_text(
            text, parse_mode=ParseMode.HTML, disable_web_page_preview=True, **kwargs
        ),
    )


async def _paced(context: ContextTypes.DEFAULT_TYPE, chat_id: int, call: Callable[[], Awaitable[Any]]) -> Any:
    pacer: Pacer = context.bot_data["pacer"]
    for attempt in range(3):
        await pacer.slot(chat_id)
        try:
            return await call()
        except RetryAfter as error:
            if attempt == 2:
                raise
            pacer.pause(retry_seconds(error))
        except BadRequest as error:
            if "not modified" not in str(error).lower():  # two presses of the same button
                raise
            return None
    return None


async def _may_manage(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Private chats manage themselves; in groups only admins may."""
    chat, user = update.effective_chat, update.effective_user
    if chat.type == ChatType.PRIVATE:
        return True
    if user is None:
        return False
    member = await context.bot.get_chat_member(chat.id, user.id)
    if member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR):
        return True
    await reply(update, context, "Only an admin of this group can change its alerts.")
    return False


async def _subscriber(update: Update, context: ContextTypes.DEFAULT_TYPE):
    sub = await _db(subscribers.get, _engine(context), update.effective_chat.id)
    if sub is None or not sub.active:
        await reply(update, context, "You are not subscribed. Send /start first.")
        return None
    return sub


def _argument(context: ContextTypes.DEFAULT_TYPE) -> str:
    return " ".join(context.args or ()).strip()


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await _may_manage(update, context):
        return
    chat, user = update.effective_chat, update.effective_user
    _, was_active = await _db(
        subscribers.subscribe,
        _engine(context),
        chat.id,
        chat.type,
        chat.title or chat.full_name or "",
        subscribers.lang_of(user.language_code if user else None),
    )
    lead = "You are already subscribed." if was_active else "Subscribed."
    await reply(update, context, f"{lead}\n\n{html.escape(HELP)}")


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await _may_manage(update, context):
        return
    engine, chat_id = _engine(context), update.effective_chat.id
    await _db(subscribers.deactivate, engine, chat_id, "unsubscribed with /stop")
    if sub := await _db(subscribers.get, engine, chat_id):  # no stale alerts on coming back
        await _db(outbox.drop_for_subscriber, engine, sub.id, "unsubscribed with /stop")
    await reply(
        update, context, "Unsubscribed: no more alerts. Send /start to come back; your choices are kept."
    )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(update, context, html.escape(HELP))


async def choose(update: Update, context: ContextTypes.DEFAULT_TYPE, kind: str) -> None:
    if not await _may_manage(update, context) or not (sub := await _subscriber(update, context)):
        return
    field, _ = keyboards.MENUS[kind]
    chosen = getattr(sub, field)
    await reply(
        update,
        context,
        f"Alerts for {field}: {esc(keyboards.describe(kind, chosen))}. Tap to change.",
        reply_markup=keyboards.menu(kind, chosen),
    )


async def regions(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await choose(update, context, "reg")


async def providers(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await choose(update, context, "prov")


async def menu_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    kind, _, code = (query.data or "").partition(":")
    if kind not in keyboards.MENUS or update.effective_chat is None:  # no chat: not one of our menus
        await query.answer("This button is no longer valid.")
        return
    if not await _may_manage(update, context):
        await query.answer()
        return
    field, labels = keyboards.MENUS[kind]
    sub = await _db(subscribers.get, _engine(context), update.effective_chat.id)
    if sub is None or not sub.active:
        await query.answer("Send /start first.")
        return
    if code == keyboards.DONE:
        await query.answer("Saved")
        text = f"Alerts for {field}: {esc(keyboards.describe(kind, getattr(sub, field)))}."
        await _paced(context, sub.chat_id, lambda: query.edit_message_text(text, parse_mode=ParseMode.HTML))
        return
    if code != keyboards.ALL and code not in labels:
        await query.answer("Unknown choice.")
        return
    chosen = keyboards.toggle(getattr(sub, field), code)
    if tuple(chosen) == getattr(sub, field):  # e.g. "All" when all is chosen: nothing to redraw
        await query.answer()
        return
    sub = await _db(subscribers.update_choices, _engine(context), sub.chat_id, **{field: chosen})
    await query.answer()
    text = f"Alerts for {field}: {esc(keyboards.describe(kind, getattr(sub, field)))}. Tap to change."
    markup = keyboards.menu(kind, getattr(sub, field))
    await _paced(
        context,
        sub.chat_id,
        lambda: query.edit_message_text(text, reply_markup=markup, parse_mode=ParseMode.HTML),
    )


async def watch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await _may_manage(update, context) or not (sub := await _subscriber(update, context)):
        return
    raw = _argument(context)
    if not raw:
        await reply(update, context, "Usage: /watch KEYWORD — for example /watch Azure OpenAI")
        return
    try:
        keyword = clean_keyword(raw)
    except ValueError as exc:
        await reply(update, context, f"Not added: {esc(str(exc))}.")
        return
    if keyword in sub.keywords:
        await reply(update, context, f"Already watching “{esc(keyword)}”.")
        return
    if len(sub.keywords) >= MAX_KEYWORDS:
        await reply(update, context, f"You can watch at most {MAX_KEYWORDS} keywords; /unwatch one first.")
        return
    await _db(subscribers.update_choices, _engine(context), sub.chat_id, keywords=[*sub.keywords, keyword])
    await reply(update, context, f"Watching “{esc(keyword)}”: any story that mentions it will reach you.")


async def unwatch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await _may_manage(update, context) or not (sub := await _subscriber(update, context)):
        return
    keyword = keyword_form(_argument(context))  # not clean_keyword: older rules let "x" in
    if not keyword or keyword not in sub.keywords:
        await reply(update, context, "Usage: /unwatch KEYWORD — one of your /keywords.")
        return
    await _db(
        subscribers.update_choices,
        _engine(context),
        sub.chat_id,
        keywords=[k for k in sub.keywords if k != keyword],
    )
    await reply(update, context, f"No longer watching “{esc(keyword)}”.")


async def keywords(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not (sub := await _subscriber(update, context)):
        return
    if not sub.keywords:
        await reply(update, context, "No keywords. Add one with /watch KEYWORD.")
        return
    await reply(update, context, join_within(["Your keywords:", *(f"• {esc(k)}" for k in sub.keywords)]))


LANG_NAMES = {"zh": "Chinese", "en": "English"}


async def lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/lang zh|en: which report leads an alert when a story has reports in both languages."""
    if not await _may_manage(update, context) or not (sub := await _subscriber(update, context)):
        return
    choice = _argument(context).lower()
    if choice not in subscribers.LANGS:
        current = LANG_NAMES[sub.lang or "en"]
        await reply(update, context, f"Usage: /lang zh or /lang en — alerts now lead with {current} reports.")
        return
    await _db(subscribers.set_lang, _engine(context), sub.chat_id, choice)
    await reply(update, context, f"Alerts will lead with {LANG_NAMES[choice]} reports when there are any.")


def _count(arg: str) -> int | None:
    """N of /latest N: decimal digits only ("²" is a digit int() refuses), 1 to MAX_LATEST."""
    if arg.isdecimal() and len(arg) <= 3 and 1 <= int(arg) <= MAX_LATEST:
        return int(arg)
    return None


async def latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    arg = _argument(context)
    count = _count(arg) if arg else 5
    if count is None:
        await reply(update, context, f"Usage: /latest [N] — N from 1 to {MAX_LATEST}.")
        return
    engine = _engine(context)
    sub = await _db(subscribers.get, engine, update.effective_chat.id)
    found = await _db(story_store.latest_alertable, engine)
    if sub is not None:
        found = [s for s in found if wants(sub, s, story_text(s))]
    if not found:
        await reply(update, context, "No alerts yet.")
        return
    tz = Schedule.of(sub).tz if sub else UTC
    language = sub.lang if sub else None
    await reply(update, context, join_within(render_story_line(s, language, tz) for s in found[:count]))


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    config, engine = _config(context), _engine(context)
    user = update.effective_user
    if update.effective_chat.id not in config.telegram.admins and (
        user is None or user.id not in config.telegram.admins
    ):
        await reply(update, context, "/status is for the bot's admins.")
        return
    queue = await _db(outbox.counts, engine)
    subs = await _db(subscribers.counts, engine)
    lines = [
        f"<b>Outbox</b>: {queue.get('pending', 0)} pending, {queue.get('sent', 0)} sent, "
        f"{queue.get('dropped', 0)} dropped",
        f"<b>Subscribers</b>: {subs['active']} active, {subs['inactive']} inactive",
    ]
    errors = await _db(outbox.recent_errors, engine)
    if errors:
        lines.append("<b>Last delivery errors</b>")
        lines.extend(f"• {esc(e[:150])}" for e in errors)
    lines.append("<b>Sources</b>")  # last: with many sources, the list is what gets cut
    states = await _db(source_store.all_states, engine)
    for source in config.sources:
        state = states.get(source.name) or source_store.SourceState(source.name)
        error = f" — {esc(state.last_error[:120])}" if state.failures and state.last_error else ""
        lines.append(f"• {esc(source.name)}: {esc(state.status if source.enabled else 'disabled')}{error}")
    await reply(update, context, join_within(lines))


async def unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    text = (update.effective_message.text or "").split(maxsplit=1)
    command = text[0] if text else ""
    _, at, bot_name = command.partition("@")
    if at and bot_name.lower() != (context.bot.username or "").lower():
        return  # "/start@other_bot" in a group is for the other bot
    await reply(update, context, f"I don't know {esc(command[:40])}. Try /help.")


async def migrated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A group became a supergroup: follow it now rather than on the next alert's 400."""
    new_chat_id = update.effective_message.migrate_to_chat_id
    if new_chat_id:
        await _db(subscribers.migrate_chat, _engine(context), update.effective_chat.id, new_chat_id)


async def chatter(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(update, context, "I only understand commands. Try /help.")


STORE_UNAVAILABLE = "Sorry, I cannot save anything right now. Please try again in a few minutes."


async def store_unavailable(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the store refused (disk full, database down): say so rather than stay silent."""
    with contextlib.suppress(TelegramError):
        if update.callback_query:
            await update.callback_query.answer(STORE_UNAVAILABLE)
        elif update.effective_message:
            await reply(update, context, html.escape(STORE_UNAVAILABLE))


SLOW_DOWN = "That is more than I can answer at once: I will take your commands again in a few seconds."


async def slow_down(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one reply a user gets when sending commands faster than the bot takes them (bot.flood)."""
    if update.callback_query:
        await update.callback_query.answer(SLOW_DOWN)
    elif update.effective_message:
        await reply(update, context, html.escape(SLOW_DOWN))
