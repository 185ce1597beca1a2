"""/quiet, /digest and /tz: when a subscriber's alerts come, and in which timezone.

Without an argument each command shows the setting; with one it changes it, and bad input gets an
example. A change applies to what is held already: the held alerts move to the new schedule, which
sends them at once, in one digest, when it holds nothing now (``/quiet off``, ``/digest off``).
"""

from __future__ import annotations

from datetime import datetime

from telegram import Update
from telegram.ext import ContextTypes

from newswatch.storage import outbox, subscribers

from .handlers import _argument, _db, _engine, _may_manage, _subscriber, reply
from .i18n import Translator, translator
from .render import clip, esc
from .schedule import DAILY, OFF, EmptyWindow, Schedule, Unparsable, parse_digest, parse_quiet, parse_tz

SHOWN_INPUT = 40  # characters of a bad argument repeated in the reply


def _now(context: ContextTypes.DEFAULT_TYPE) -> datetime:
    return context.bot_data["clock"]()


async def quiet(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await _may_manage(update, context) or not (sub := await _subscriber(update, context)):
        return
    t = translator(sub.lang)
    schedule, arg = Schedule.of(sub), _argument(context)
    if not arg:
        shown = (
            t.gettext(
                "Quiet hours: {window} ({tz}). Alerts then come as one digest when they end. "
                "/quiet off ends them."
            )
            if schedule.quiet
            else t.gettext(
                "No quiet hours: alerts come as they happen. /quiet 23:00-08:00 sets them (in {tz})."
            )
        )
        await reply(update, context, esc(shown.format(window=schedule.quiet, tz=schedule.tz)))
        return
    try:
        window = None if arg.lower() == OFF else str(parse_quiet(arg))
    except Unparsable:
        usage = t.gettext(
            "Not set: write the hours as /quiet 23:00-08:00 (24-hour clock, in {tz}), or /quiet off."
        )
        await reply(update, context, esc(usage.format(tz=schedule.tz)))
        return
    except EmptyWindow:
        empty = t.gettext(
            "Not set: quiet hours must end at another time than they start, e.g. /quiet 23:00-08:00."
        )
        await reply(update, context, esc(empty))
        return
    schedule, note = await _change(update, context, t, quiet=window)
    done = (
        t.gettext(
            "Quiet hours {window} ({tz}): alerts then are held and come as one digest when they end."
        ).format(window=window, tz=schedule.tz)
        if window
        else t.gettext("Quiet hours off: alerts come as they happen.")
    )
    await reply(update, context, esc(_sentences(t, done, note)))


async def digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await _may_manage(update, context) or not (sub := await _subscriber(update, context)):
        return
    t = translator(sub.lang)
    schedule, arg = Schedule.of(sub), _argument(context)
    if not arg:
        none = t.gettext(
            "No daily digest: alerts come as they happen. /digest daily 09:00 sends one a day instead."
        )
        await reply(update, context, esc(_digest_state(schedule, t) if schedule.digest else none))
        return
    try:
        daily = None if arg.lower() == OFF else f"{DAILY} {parse_digest(arg):%H:%M}"
    except Unparsable:
        usage = t.gettext("Usage: /digest daily 09:00 (24-hour clock, in {tz}) or /digest off.")
        await reply(update, context, esc(usage.format(tz=schedule.tz)))
        return
    schedule, note = await _change(update, context, t, digest=daily)
    done = _digest_state(schedule, t) if daily else t.gettext("Daily digest off: alerts come as they happen.")
    await reply(update, context, esc(_sentences(t, done, note)))


async def tz(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await _may_manage(update, context) or not (sub := await _subscriber(update, context)):
        return
    t = translator(sub.lang)
    arg = _argument(context)
    if not arg:
        shown = (
            t.gettext("Your timezone: {tz}. Change it with an IANA name, e.g. /tz Asia/Shanghai.")
            if sub.tz
            else t.gettext(
                "Your timezone: {tz} (the default). Change it with an IANA name, e.g. /tz Asia/Shanghai."
            )
        )
        await reply(update, context, esc(shown.format(tz=Schedule.of(sub).tz)))
        return
    try:
        name = parse_tz(arg)
    except Unparsable:
        unknown = t.gettext(
            "“{text}” is not a timezone name. Use an IANA name, e.g. /tz Asia/Shanghai or /tz Europe/London."
        )
        await reply(update, context, esc(unknown.format(text=clip(arg, SHOWN_INPUT))))
        return
    schedule, note = await _change(update, context, t, tz=name)
    local = schedule.local(_now(context))
    done = t.gettext("Timezone: {tz}, where it is {now} now. Quiet hours and digests follow it.")
    await reply(update, context, esc(_sentences(t, done.format(tz=name, now=f"{local:%H:%M}"), note)))


async def _change(
    update: Update, context: ContextTypes.DEFAULT_TYPE, t: Translator, **setting: str | None
) -> tuple[Schedule, str]:
    """Store the setting, then move what is held to the new schedule; returns that schedule and a
    sentence on the held alerts ("" when none were held)."""
    engine, now = _engine(context), _now(context)
    sub = await _db(subscribers.set_schedule, engine, update.effective_chat.id, **setting)
    schedule = Schedule.of(sub)
    release = schedule.release(now)
    count = await _db(outbox.reschedule_held, engine, sub.id, release or now)
    if not count:
        return schedule, ""
    if release is None:
        released = t.ngettext(
            "The alert held back comes now, in a digest.",
            "The {count} alerts held back come now, in one digest.",
            count,
        )
        return schedule, released.format(count=count)
    held = t.ngettext(
        "The alert held back comes at {when}.", "The {count} alerts held back come at {when}.", count
    )
    return schedule, held.format(count=count, when=f"{schedule.local(release):%Y-%m-%d %H:%M}")


def _digest_state(schedule: Schedule, t: Translator) -> str:
    assert schedule.digest is not None
    state = t.gettext("One digest a day at {at} ({tz}) instead of instant alerts. /digest off ends it.")
    state = state.format(at=f"{schedule.digest:%H:%M}", tz=schedule.tz)
    if schedule.quiet is not None and schedule.quiet.holds(schedule.digest):
        in_quiet = t.gettext("It falls in your quiet hours ({window}), so it comes when they end.")
        state = _sentences(t, state, in_quiet.format(window=schedule.quiet))
    return state


def _sentences(t: Translator, first: str, then: str) -> str:
    """Two sentences of a reply, the second one optional: "A. B." in English, "甲。乙。" in Chinese."""
    # TRANSLATORS: one sentence after another (a space in English, none after "。").
    return t.gettext("{sentence} {next}").format(sentence=first, next=then) if then else first
