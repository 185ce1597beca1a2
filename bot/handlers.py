"""Command handlers: short functions that check input, call the store, and reply.

Everything a user typed is escaped before it goes back into an HTML reply. Group chats: only the
group's admins may change its subscription. Replies are in the chat's language (``bot.i18n``): the
subscriber's, else the Telegram user's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

from sqlalchemy import Engine
from telegram import BotCommand, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.ext import ContextTypes

from newswatch.config import Config
from newswatch.detect.keywords import MAX_KEYWORD_CHARS, MIN_KEYWORD_ALNUM, clean_keyword, keyword_form
from newswatch.storage import outbox, subscribers
from newswatch.storage import sources as source_store
from newswatch.storage import stories as story_store
from newswatch.storage.subscribers import MAX_KEYWORDS, Subscriber

from . import keyboards
from .choices import story_text, wants
from .delivery import retry_seconds
from .i18n import N_, language, translator
from .pacing import Pacer
from .render import esc, join_within, render_story_line
from .schedule import Schedule

COMMANDS = [  # the menu Telegram shows, in English: ``commands(lang)`` for another language
    BotCommand("start", N_("Subscribe to alerts")),
    BotCommand("stop", N_("Unsubscribe")),
    BotCommand("regions", N_("Choose regions")),
    BotCommand("providers", N_("Choose providers")),
    BotCommand("watch", N_("Watch a keyword: /watch KEYWORD")),
    BotCommand("unwatch", N_("Stop watching a keyword")),
    BotCommand("keywords", N_("List your keywords")),
    BotCommand("latest", N_("The latest alerts: /latest [N]")),
    BotCommand("lang", N_("Chinese or English, for replies and alerts: /lang zh|en")),
    BotCommand("tracker", N_("What is restricted where: /tracker [provider|region]")),
    BotCommand("quiet", N_("Hold alerts at night: /quiet 23:00-08:00 or /quiet off")),
    BotCommand("digest", N_("One digest a day instead: /digest daily 09:00 or /digest off")),
    BotCommand("tz", N_("Your timezone: /tz Asia/Shanghai")),
    BotCommand("help", N_("How this bot works")),
]
HELP = N_(
    "I send an alert when an AI service (ChatGPT, the OpenAI API, Azure OpenAI, Gemini, Claude, "
    "DeepSeek…) is blocked, banned, suspended, discontinued or restricted in a country or region — or "
    "when such a restriction is lifted. One alert per event, however many outlets report it, and an "
    "update when it takes effect, is lifted or reaches further.\n\n"
    "/start — subscribe\n/stop — unsubscribe\n/regions — only some regions (default: all)\n"
    "/providers — only some providers (default: all)\n/watch KEYWORD — also get any story mentioning it\n"
    "/unwatch KEYWORD\n/keywords — your keywords\n/latest [N] — the last N alerts (1–20)\n"
    "/lang zh|en — Chinese or English: my replies, and which report leads an alert when there are both\n"
    "/tracker [provider|region] — what is restricted where, and since when\n"
    "/quiet 23:00-08:00 — hold alerts then, and get them as one digest when the hours end (/quiet off)\n"
    "/digest daily 09:00 — one digest a day instead of instant alerts (/digest off)\n"
    "/tz Asia/Shanghai — your timezone, an IANA name (default: UTC+8 for Chinese, UTC otherwise)"
)
LANG_NAMES = {"zh": N_("Chinese"), "en": N_("English")}
# Why clean_keyword refused a keyword, as it says it in English -> the message and its number.
KEYWORD_REFUSALS = {
    message.format(count=count): (message, count)
    for message, count in (
        (N_("a keyword needs at least {count} letters or digits"), MIN_KEYWORD_ALNUM),
        (N_("a keyword can be at most {count} characters"), MAX_KEYWORD_CHARS),
    )
}
MAX_LATEST = 20


def _engine(context: ContextTypes.DEFAULT_TYPE) -> Engine:
    return context.bot_data["engine"]


def _config(context: ContextTypes.DEFAULT_TYPE) -> Config:
    return context.bot_data["config"]


def commands(lang: str | None) -> list[BotCommand]:
    """The command menu with its descriptions in ``lang``."""
    t = translator(lang)
    return [BotCommand(c.command, t.gettext(c.description)) for c in COMMANDS]


async def _lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    """The chat's language (``bot.i18n.language``), for handlers that have not read its subscriber."""
    chat = update.effective_chat
    return language(update, await _db(subscribers.get, _engine(context), chat.id) if chat else None)


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
    t = translator(await _lang(update, context))
    await reply(update, context, esc(t.gettext("Only an admin of this group can change its alerts.")))
    return False


async def _subscriber(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Subscriber | None:
    """The chat's active subscriber; None, after saying to send /start, when there is none."""
    sub = await _db(subscribers.get, _engine(context), update.effective_chat.id)
    if sub is None or not sub.active:
        t = translator(language(update, sub))
        await reply(update, context, esc(t.gettext("You are not subscribed. Send /start first.")))
        return None
    return sub


def _argument(context: ContextTypes.DEFAULT_TYPE) -> str:
    return " ".join(context.args or ()).strip()


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await _may_manage(update, context):
        return
    chat, user = update.effective_chat, update.effective_user
    sub, was_active = await _db(
        subscribers.subscribe,
        _engine(context),
        chat.id,
        chat.type,
        chat.title or chat.full_name or "",
        subscribers.lang_of(user.language_code if user else None),
    )
    t = translator(language(update, sub))
    lead = t.gettext("You are already subscribed.") if was_active else t.gettext("Subscribed.")
    await reply(update, context, f"{esc(lead)}\n\n{esc(t.gettext(HELP))}")


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await _may_manage(update, context):
        return
    engine, chat_id = _engine(context), update.effective_chat.id
    await _db(subscribers.deactivate, engine, chat_id, "unsubscribed with /stop")
    if sub := await _db(subscribers.get, engine, chat_id):  # no stale alerts on coming back
        await _db(outbox.drop_for_subscriber, engine, sub.id, "unsubscribed with /stop")
    t = translator(language(update, sub))
    stopped = t.gettext("Unsubscribed: no more alerts. Send /start to come back; your choices are kept.")
    await reply(update, context, esc(stopped))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(update, context, esc(translator(await _lang(update, context)).gettext(HELP)))


def _menu_text(kind: str, sub: Subscriber, lang: str, done: bool = False) -> str:
    """What a menu's message says: the choice, and while the menu is open, that it can change."""
    menu = keyboards.MENUS[kind]
    shown = translator(lang).gettext(menu.chosen if done else menu.choosing)
    return esc(shown.format(chosen=keyboards.describe(kind, getattr(sub, menu.field), lang)))


async def choose(update: Update, context: ContextTypes.DEFAULT_TYPE, kind: str) -> None:
    if not await _may_manage(update, context) or not (sub := await _subscriber(update, context)):
        return
    lang = language(update, sub)
    markup = keyboards.menu(kind, getattr(sub, keyboards.MENUS[kind].field), lang)
    await reply(update, context, _menu_text(kind, sub, lang), reply_markup=markup)


async def regions(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await choose(update, context, "reg")


async def providers(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await choose(update, context, "prov")


async def menu_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    kind, _, code = (query.data or "").partition(":")
    if kind not in keyboards.MENUS or update.effective_chat is None:  # no chat: not one of our menus
        await query.answer(translator(language(update)).gettext("This button is no longer valid."))
        return
    if not await _may_manage(update, context):
        await query.answer()
        return
    menu = keyboards.MENUS[kind]
    sub = await _db(subscribers.get, _engine(context), update.effective_chat.id)
    lang = language(update, sub)
    t = translator(lang)
    if sub is None or not sub.active:
        await query.answer(t.gettext("Send /start first."))
        return
    if code == keyboards.DONE:
        await query.answer(t.gettext("Saved"))
        text = _menu_text(kind, sub, lang, done=True)
        await _paced(context, sub.chat_id, lambda: query.edit_message_text(text, parse_mode=ParseMode.HTML))
        return
    if code != keyboards.ALL and code not in menu.entries:
        await query.answer(t.gettext("Unknown choice."))
        return
    chosen = keyboards.toggle(getattr(sub, menu.field), code)
    if tuple(chosen) == getattr(sub, menu.field):  # e.g. "All" when all is chosen: nothing to redraw
        await query.answer()
        return
    sub = await _db(subscribers.update_choices, _engine(context), sub.chat_id, **{menu.field: chosen})
    await query.answer()
    text = _menu_text(kind, sub, lang)
    markup = keyboards.menu(kind, getattr(sub, menu.field), lang)
    await _paced(
        context,
        sub.chat_id,
        lambda: query.edit_message_text(text, reply_markup=markup, parse_mode=ParseMode.HTML),
    )


async def watch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await _may_manage(update, context) or not (sub := await _subscriber(update, context)):
        return
    t = translator(language(update, sub))
    raw = _argument(context)
    if not raw:
        usage = t.gettext("Usage: /watch KEYWORD — for example /watch Azure OpenAI")
        await reply(update, context, esc(usage))
        return
    try:
        keyword = clean_keyword(raw)
    except ValueError as exc:
        refusal = KEYWORD_REFUSALS.get(str(exc))  # one we have no words for is said as it is
        reason = t.gettext(refusal[0]).format(count=refusal[1]) if refusal else str(exc)
        await reply(update, context, esc(t.gettext("Not added: {reason}.").format(reason=reason)))
        return
    if keyword in sub.keywords:
        await reply(update, context, esc(t.gettext("Already watching “{keyword}”.").format(keyword=keyword)))
        return
    if len(sub.keywords) >= MAX_KEYWORDS:
        full = t.gettext("You can watch at most {count} keywords; /unwatch one first.")
        await reply(update, context, esc(full.format(count=MAX_KEYWORDS)))
        return
    await _db(subscribers.update_choices, _engine(context), sub.chat_id, keywords=[*sub.keywords, keyword])
    watching = t.gettext("Watching “{keyword}”: any story that mentions it will reach you.")
    await reply(update, context, esc(watching.format(keyword=keyword)))


async def unwatch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await _may_manage(update, context) or not (sub := await _subscriber(update, context)):
        return
    t = translator(language(update, sub))
    keyword = keyword_form(_argument(context))  # not clean_keyword: older rules let "x" in
    if not keyword or keyword not in sub.keywords:
        await reply(update, context, esc(t.gettext("Usage: /unwatch KEYWORD — one of your /keywords.")))
        return
    await _db(
        subscribers.update_choices,
        _engine(context),
        sub.chat_id,
        keywords=[k for k in sub.keywords if k != keyword],
    )
    await reply(update, context, esc(t.gettext("No longer watching “{keyword}”.").format(keyword=keyword)))


async def keywords(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not (sub := await _subscriber(update, context)):
        return
    lang = language(update, sub)
    t = translator(lang)
    if not sub.keywords:
        await reply(update, context, esc(t.gettext("No keywords. Add one with /watch KEYWORD.")))
        return
    listing = [esc(t.gettext("Your keywords:")), *(f"• {esc(k)}" for k in sub.keywords)]
    await reply(update, context, join_within(listing, lang))


async def lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/lang zh|en: the language of the bot's replies, and which report leads an alert when a story
    has reports in both languages. The answer is in the language chosen."""
    if not await _may_manage(update, context) or not (sub := await _subscriber(update, context)):
        return
    choice = _argument(context).lower()
    if choice not in subscribers.LANGS:
        current = language(update, sub)
        t = translator(current)
        usage = t.gettext(
            "Usage: /lang zh or /lang en — I answer in {language}, and alerts lead with {language} reports."
        )
        await reply(update, context, esc(usage.format(language=t.gettext(LANG_NAMES[current]))))
        return
    await _db(subscribers.set_lang, _engine(context), sub.chat_id, choice)
    t = translator(choice)
    chosen = t.gettext(
        "I will answer in {language}, and alerts will lead with {language} reports when there are any."
    )
    await reply(update, context, esc(chosen.format(language=t.gettext(LANG_NAMES[choice]))))


def _count(arg: str) -> int | None:
    """N of /latest N: decimal digits only ("²" is a digit int() refuses), 1 to MAX_LATEST."""
    if arg.isdecimal() and len(arg) <= 3 and 1 <= int(arg) <= MAX_LATEST:
        return int(arg)
    return None


async def latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    engine = _engine(context)
    sub = await _db(subscribers.get, engine, update.effective_chat.id)
    lang = language(update, sub)
    t = translator(lang)
    arg = _argument(context)
    count = _count(arg) if arg else 5
    if count is None:
        usage = t.gettext("Usage: /latest [N] — N from 1 to {count}.").format(count=MAX_LATEST)
        await reply(update, context, esc(usage))
        return
    found = await _db(story_store.latest_alertable, engine)
    if sub is not None:
        found = [s for s in found if wants(sub, s, story_text(s))]
    if not found:
        await reply(update, context, esc(t.gettext("No alerts yet.")))
        return
    tz = Schedule.of(sub).tz if sub else UTC
    await reply(update, context, join_within((render_story_line(s, lang, tz) for s in found[:count]), lang))


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    config, engine = _config(context), _engine(context)
    lang = await _lang(update, context)
    t = translator(lang)
    user = update.effective_user
    if update.effective_chat.id not in config.telegram.admins and (
        user is None or user.id not in config.telegram.admins
    ):
        await reply(update, context, esc(t.gettext("/status is for the bot's admins.")))
        return
    queue = await _db(outbox.counts, engine)
    subs = await _db(subscribers.counts, engine)
    lines = [
        t.gettext("<b>Outbox</b>: {pending} pending, {sent} sent, {dropped} dropped").format(
            pending=queue.get("pending", 0), sent=queue.get("sent", 0), dropped=queue.get("dropped", 0)
        ),
        t.gettext("<b>Subscribers</b>: {active} active, {inactive} inactive").format(**subs),
    ]
    errors = await _db(outbox.recent_errors, engine)
    if errors:
        lines.append(t.gettext("<b>Last delivery errors</b>"))
        lines.extend(f"• {esc(e[:150])}" for e in errors)
    lines.append(t.gettext("<b>Sources</b>"))  # last: with many sources, the list is what gets cut
    states = await _db(source_store.all_states, engine)
    for source in config.sources:
        state = states.get(source.name) or source_store.SourceState(source.name)
        error = f" — {esc(state.last_error[:120])}" if state.failures and state.last_error else ""
        shown = state.status if source.enabled else t.gettext("disabled")
        lines.append(f"• {esc(source.name)}: {esc(shown)}{error}")
    await reply(update, context, join_within(lines, lang))


async def unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    text = (update.effective_message.text or "").split(maxsplit=1)
    command = text[0] if text else ""
    _, at, bot_name = command.partition("@")
    if at and bot_name.lower() != (context.bot.username or "").lower():
        return  # "/start@other_bot" in a group is for the other bot
    t = translator(await _lang(update, context))
    unknown_command = t.gettext("I don't know {command}. Try /help.")
    await reply(update, context, esc(unknown_command.format(command=command[:40])))


async def migrated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A group became a supergroup: follow it now rather than on the next alert's 400."""
    new_chat_id = update.effective_message.migrate_to_chat_id
    if new_chat_id:
        await _db(subscribers.migrate_chat, _engine(context), update.effective_chat.id, new_chat_id)


async def chatter(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    t = translator(await _lang(update, context))
    await reply(update, context, esc(t.gettext("I only understand commands. Try /help.")))


async def _answer(update: Update, context: ContextTypes.DEFAULT_TYPE, message: str) -> None:
    """``message`` as the answer to a button press, or else as a reply, in the language of the
    Telegram user: these answers must not wait for (or fail with) the store."""
    text = translator(language(update)).gettext(message)
    if update.callback_query:
        await update.callback_query.answer(text)
    elif update.effective_message:
        await reply(update, context, esc(text))


STORE_UNAVAILABLE = N_("Sorry, I cannot save anything right now. Please try again in a few minutes.")


async def store_unavailable(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the store refused (disk full, database down): say so rather than stay silent."""
    with contextlib.suppress(TelegramError):
        await _answer(update, context, STORE_UNAVAILABLE)


SLOW_DOWN = N_("That is more than I can answer at once: I will take your commands again in a few seconds.")


async def slow_down(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one reply a user gets when sending commands faster than the bot takes them (bot.flood)."""
    await _answer(update, context, SLOW_DOWN)
