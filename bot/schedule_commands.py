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
from .render import clip, esc
from .schedule import DAILY, OFF, EmptyWindow, Schedule, Unparsable, parse_digest, parse_quiet, parse_tz

# Replies, in one place for translation. {tz} is the subscriber's timezone, {window} "23:00-08:00".
QUIET_SHOW = (
    "Quiet hours: {window} ({tz}). Alerts then come as one digest when they end. /quiet off ends them."
)
QUIET_NONE = "No quiet hours: alerts come as they happen. /quiet 23:00-08:00 sets them (in {tz})."
QUIET_SET = "Quiet hours {window} ({tz}): alerts then are held and come as one digest when they end."
QUIET_OFF = "Quiet hours off: alerts come as they happen."
QUIET_USAGE = "Not set: write the hours as /quiet 23:00-08:00 (24-hour clock, in {tz}), or /quiet off."
QUIET_EMPTY = "Not set: quiet hours must end at another time than they start, e.g. /quiet 23:00-08:00."
DIGEST_SHOW = "One digest a day at {at} ({tz}) instead of instant alerts. /digest off ends it."
DIGEST_NONE = "No daily digest: alerts come as they happen. /digest daily 09:00 sends one a day instead."
DIGEST_OFF = "Daily digest off: alerts come as they happen."
DIGEST_IN_QUIET = "It falls in your quiet hours ({window}), so it comes when they end."
DIGEST_USAGE = "Usage: /digest daily 09:00 (24-hour clock, in {tz}) or /digest off."
TZ_SHOW = "Your timezone: {tz}{default}. Change it with an IANA name, e.g. /tz Asia/Shanghai."
TZ_DEFAULT = " (the default)"
TZ_SET = "Timezone: {tz}, where it is {now} now. Quiet hours and digests follow it."
TZ_UNKNOWN = "“{text}” is not a timezone name. Use an IANA name, e.g. /tz Asia/Shanghai or /tz Europe/London."
RELEASED = (
    "The alert held back comes now, in a digest.",
    "The {count} alerts held back come now, in one digest.",
)
HELD_UNTIL = ("The alert held back comes at {when}.", "The {count} alerts held back come at {when}.")
SHOWN_INPUT = 40  # characters of a bad argument repeated in the reply


def _now(context: ContextTypes.DEFAULT_TYPE) -> datetime:
    return context.bot_data["clock"]()


async def quiet(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await _may_manage(update, context) or not (sub := await _subscriber(update, context)):
        return
    schedule, arg = Schedule.of(sub), _argument(context)
    if not arg:
        shown = QUIET_SHOW if schedule.quiet else QUIET_NONE
        await reply(update, context, esc(shown.format(window=schedule.quiet, tz=schedule.tz)))
        return
    try:
        window = None if arg.lower() == OFF else str(parse_quiet(arg))
    except Unparsable:
        await reply(update, context, esc(QUIET_USAGE.format(tz=schedule.tz)))
        return
    except EmptyWindow:
        await reply(update, context, esc(QUIET_EMPTY))
        return
    schedule, note = await _change(update, context, quiet=window)
    done = QUIET_SET.format(window=window, tz=schedule.tz) if window else QUIET_OFF
    await reply(update, context, esc(_sentences(done, note)))


async def digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await _may_manage(update, context) or not (sub := await _subscriber(update, context)):
        return
    schedule, arg = Schedule.of(sub), _argument(context)
    if not arg:
        await reply(update, context, esc(_digest_state(schedule) if schedule.digest else DIGEST_NONE))
        return
    try:
        daily = None if arg.lower() == OFF else f"{DAILY} {parse_digest(arg):%H:%M}"
    except Unparsable:
        await reply(update, context, esc(DIGEST_USAGE.format(tz=schedule.tz)))
        return
    schedule, note = await _change(update, context, digest=daily)
    await reply(update, context, esc(_sentences(_digest_state(schedule) if daily else DIGEST_OFF, note)))


async def tz(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await _may_manage(update, context) or not (sub := await _subscriber(update, context)):
        return
    arg = _argument(context)
    if not arg:
        default = "" if sub.tz else TZ_DEFAULT
        await reply(update, context, esc(TZ_SHOW.format(tz=Schedule.of(sub).tz, default=default)))
        return
    try:
        name = parse_tz(arg)
    except Unparsable:
        await reply(update, context, esc(TZ_UNKNOWN.format(text=clip(arg, SHOWN_INPUT))))
        return
    schedule, note = await _change(update, context, tz=name)
    local = schedule.local(_now(context))
    await reply(update, context, esc(_sentences(TZ_SET.format(tz=name, now=f"{local:%H:%M}"), note)))


async def _change(
    update: Update, context: ContextTypes.DEFAULT_TYPE, **setting: str | None
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
        return schedule, RELEASED[count != 1].format(count=count)
    when = f"{schedule.local(release):%Y-%m-%d %H:%M}"
    return schedule, HELD_UNTIL[count != 1].format(count=count, when=when)


def _digest_state(schedule: Schedule) -> str:
    assert schedule.digest is not None
    state = DIGEST_SHOW.format(at=f"{schedule.digest:%H:%M}", tz=schedule.tz)
    if schedule.quiet is not None and schedule.quiet.holds(schedule.digest):
        state = _sentences(state, DIGEST_IN_QUIET.format(window=schedule.quiet))
    return state


def _sentences(*parts: str) -> str:
    return " ".join(p for p in parts if p)
