"""From stored stories to sent alerts, through the outbox.

``fanout`` turns each new story into outbox rows for the subscribers who want it (idempotent: the
outbox is unique per subscriber and story). ``send_due`` sends pending rows at Telegram's pace and
records each result; ``edit_updated`` adds "also reported by" to alerts already sent. Every outcome
of a send maps to one decision: sent, retry later, deactivate the chat, follow a migration, or drop
one message Telegram will never accept.

Quiet hours and daily digests hold alerts instead: fan-out queues them as outbox rows held until
the subscriber's schedule releases them (``bot.schedule``), ``compose_digests`` turns the held rows
whose time has come into digest messages (``bot.digest``), and ``send_due`` sends those messages
like alerts, each recorded on its own. A story fanned out while a digest goes out is not in it: it
is held for the next one, or, when the hold has just ended, sent as an alert of its own. Time is
``clock`` (an aware UTC datetime), so that tests can move it.

A store that stops taking writes (disk full, a read-only or immutable file, a database gone) must
not turn into repeats: a send Telegram confirmed but the store did not record is remembered here
as sent, and nothing new is sent until the store takes writes again (then the remembered sends are
recorded first). So what is remembered is only what was in flight, at most one message per chat,
and a crash meanwhile repeats no more than any other crash does. Digest messages are covered alike:
they are composed only while the store takes writes, and one sent but not recorded is remembered.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from newswatch import metrics
from newswatch.config import AlertsConfig
from newswatch.storage import outbox, subscribers
from newswatch.storage import stories as story_store
from newswatch.storage.db import check_writable
from newswatch.storage.schema import utcnow
from newswatch.storage.stories import Story

from .choices import story_text, wants
from .digest import heading, render_digest
from .pacing import Pacer
from .render import Lead, choose_lead, lead_at, render_alert
from .schedule import Schedule
from .senders import Sender

log = logging.getLogger(__name__)

ALERTS_SINCE = "alerts_since"  # meta key: stories created before it are never alerted
MAX_BACKOFF = 300.0
STORE_REPORT_EVERY = 60.0  # while the store refuses writes, say so this often
GONE = (
    "chat not found",
    "user is deactivated",
    "bot was kicked",
    "chat_write_forbidden",
    "peer_id_invalid",
    "have no rights to send",
    "not enough rights",
)


@dataclass(frozen=True)
class Sent:
    """A send Telegram confirmed: what ``outbox.mark_sent`` records."""

    unit: outbox.Unit
    message_id: int | None
    rendered_count: int
    lead: str | None = None  # the link of the report an alert led with


def store_problem(error: SQLAlchemyError) -> str:
    """The driver's own words, one line: "database or disk is full"."""
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


def retry_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int form is deprecated
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Delivery:
    def __init__(
        self,
        engine: Engine,
        sender: Sender,
        alerts: AlertsConfig,
        pacer: Pacer | None = None,
        concurrency: int = 16,
        console: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.engine = engine
        self.sender = sender
        self.alerts = alerts
        self.pacer = pacer or Pacer()
        self.concurrency = concurrency
        self.console = console  # deliver only the console's rows (no token), else only Telegram's
        self.clock = clock  # now, aware UTC: what is due, what is held, and until when
        self.stopping = False
        self.history_sources: set[str] = set()  # sources on their first poll: their backlog is not news
        self._lock = asyncio.Lock()
        self._in_flight: set[int] = set()
        self._stories: dict[str, tuple[Story, Story | None] | None] = {}  # story and parent, per run
        self._alerts: dict[tuple[str, str | None, str], str] = {}  # (story, lang, lead link): text
        self.unrecorded: dict[tuple[str, int], Sent] = {}  # unit key -> sent, but the store refused it
        self._refused_since: float | None = None  # monotonic time the store began refusing writes
        self._reported_at = -STORE_REPORT_EVERY
        self._halted = False  # this run stops sending: the store refused a write

    # --- fan-out -------------------------------------------------------------------------------

    def fanout(self) -> int:
        """Queue every new story for the subscribers who want it; returns rows queued."""
        since_text = story_store.get_meta(self.engine, ALERTS_SINCE)
        since = datetime.fromisoformat(since_text) if since_text else None
        now = self.clock()
        queued = 0
        while batch := story_store.unqueued(self.engine, hold=self.history_sources):
            audience = subscribers.active(self.engine)
            releases = {s.id: Schedule.of(s).release(now) for s in audience if s.quiet or s.digest}
            for story in batch:
                if since is not None and story.created >= since and self._fresh(story):
                    text = story_text(story)
                    ids = [s.id for s in audience if wants(s, story, text)]
                    held = {i: when for i in ids if (when := releases.get(i))}
                    queued += outbox.enqueue(self.engine, story.id, ids, now=now, held_until=held)
            story_store.mark_queued(self.engine, [s.id for s in batch])
        return queued

    def _fresh(self, story: Story) -> bool:
        """Articles first seen long after publication are stored, never alerted."""
        return story.fresh(self.alerts.max_age)

    # --- digests -------------------------------------------------------------------------------

    def compose_digests(self) -> int:
        """Held rows whose time has come become digest messages, one digest per subscriber;
        returns the messages composed. Their text is fixed here, so a message sent again after a
        crash is the same message."""
        composed = 0
        found: dict[str, Story | None] = {}
        for rows in outbox.held_due(self.engine, self.clock(), console=self.console):
            subscriber = subscribers.get(self.engine, rows[0].chat_id)
            if subscriber is None:
                continue
            for row in rows:
                if row.story_id not in found:
                    found[row.story_id] = story_store.get(self.engine, row.story_id)
                if found[row.story_id] is None:
                    outbox.drop(self.engine, row, "story not found")
            items = [(row.id, story) for row in rows if (story := found[row.story_id])]
            if not items:
                continue
            schedule = Schedule.of(subscriber)
            daily = schedule.local(self.clock()).date() if schedule.digest else None
            title = heading(len(items), daily, subscriber.lang)
            parts = render_digest(items, title, schedule.tz, subscriber.lang)
            composed += len(outbox.compose(self.engine, subscriber.id, [(p.text, p.row_ids) for p in parts]))
        return composed

    # --- sending -------------------------------------------------------------------------------

    async def run_once(self) -> None:
        """Fan out, send what is due, edit what grew. One run at a time; none while the store
        refuses writes."""
        async with self._lock:
            self._stories.clear()
            self._alerts.clear()
            self._halted = False
            try:
                await asyncio.to_thread(self._writes_work)
                await asyncio.to_thread(self.fanout)
                await asyncio.to_thread(self.compose_digests)
                await self.send_due()
                if not self._halted:
                    await self.edit_updated()
            except SQLAlchemyError as error:
                self.store_refused(error)

    def _writes_work(self) -> None:
        """After a refusal: record the remembered sends (or, with none, probe) before anything else
        is sent; raises the store's error while it still refuses."""
        if self._refused_since is None:
            return
        for sent in list(self.unrecorded.values()):
            self._record(sent)
            del self.unrecorded[sent.unit.key]
        check_writable(self.engine)
        log.warning(
            "the store takes writes again after %.0f s: delivery resumes",
            time.monotonic() - self._refused_since,
        )
        self._refused_since = None

    def store_refused(self, error: SQLAlchemyError) -> None:
        """The store refused a write (or a read): stop sending until it takes writes again, and say
        so once a minute, not once per alert."""
        now = time.monotonic()
        self._halted = True
        if self._refused_since is None:
            self._refused_since = now
        if now - self._reported_at >= STORE_REPORT_EVERY:
            self._reported_at = now
            log.error(
                "the store refuses writes (%s): delivery paused; %d sent alerts remembered until it "
                "records them",
                store_problem(error),
                len(self.unrecorded),
            )

    async def close(self) -> None:
        """At shutdown: a last try to record the remembered sends; they are lost (and sent again
        after the restart, at most one per chat) only if the store still refuses."""
        if not self.unrecorded:
            return
        try:
            await asyncio.to_thread(self._writes_work)
        except SQLAlchemyError as error:
            log.error(
                "%d sent alerts could not be recorded (%s): they will be sent again after a restart",
                len(self.unrecorded),
                store_problem(error),
            )

    async def send_due(self) -> None:
        tasks: set[asyncio.Task] = set()
        try:
            await self._start_sends(tasks, asyncio.Semaphore(self.concurrency))
        finally:  # a read the store refused ends the loop: what is in flight still finishes here
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _start_sends(self, tasks: set[asyncio.Task], limit: asyncio.Semaphore) -> None:
        while not self.stopping and not self._halted:
            # A row read while its chat is in flight may be one being sent right now and marked sent
            # a moment after the read: rows of chats busy at any time since the read are left alone.
            busy = set(self._in_flight)
            units = await asyncio.to_thread(self._due)
            units = [
                u
                for u in units
                if u.chat_id not in busy and u.chat_id not in self._in_flight and u.key not in self.unrecorded
            ]
            if not units:
                if not tasks:
                    break
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                continue
            started = set()
            for unit in units:
                if self.stopping or self._halted:
                    break
                if (
                    unit.chat_id in self._in_flight
                    or unit.chat_id in started
                    or not self.pacer.chat_ready(unit.chat_id)
                ):
                    continue
                message = await self._message(unit)  # before the slot: the send follows it at once
                await limit.acquire()
                await self.pacer.slot(unit.chat_id)
                if self.stopping or self._halted:
                    limit.release()
                    break
                started.add(unit.chat_id)
                self._in_flight.add(unit.chat_id)
                task = asyncio.create_task(self._deliver(unit, message))
                tasks.add(task)
                task.add_done_callback(
                    lambda t, chat=unit.chat_id: (
                        tasks.discard(t),
                        self._in_flight.discard(chat),
                        limit.release(),
                    )
                )
            if not started and not self.stopping and not self._halted:
                # everything due waits for its chat's pace (or a 429 pause): sleep until the first frees
                now = self.pacer.clock()
                waits = [self.pacer.chat_ready_at(u.chat_id) - now for u in units]
                await self.pacer.sleep(min(max(min(waits), 0.01), 1.0))

    def _due(self) -> list[outbox.Unit]:
        """Digest messages first (what they hold is older), then alerts."""
        now = self.clock()
        return [
            *outbox.due_parts(self.engine, now, console=self.console),
            *outbox.due(self.engine, now, console=self.console),
        ]

    async def _story(self, story_id: str) -> tuple[Story, Story | None] | None:
        """The story and the earlier one it updates, read once per run."""
        if story_id not in self._stories:
            story = await asyncio.to_thread(story_store.get, self.engine, story_id)
            parent = None
            if story is not None and story.parent_id:
                parent = await asyncio.to_thread(story_store.get, self.engine, story.parent_id)
            self._stories[story_id] = (story, parent) if story else None
        return self._stories[story_id]

    async def _message(self, unit: outbox.Unit) -> tuple[str, int, str | None] | None:
        """What to send, the number of outlets it shows and the link of the report it leads with (a
        digest names none); None: the alert's story is gone."""
        if isinstance(unit, outbox.DigestPart):
            return unit.text, 0, None
        alert = await self._alert(unit)
        if alert is None:
            return None
        story, lead, text = alert
        return text, len(story.outlets), lead.url

    async def _alert(self, row: outbox.Delivery, sent: bool = False) -> tuple[Story, Lead, str] | None:
        """The story, the report its alert leads with, and the alert in the subscriber's language:
        a new alert leads with the first report in that language, an edit keeps the sent lead.
        Rendered once per (story, language, lead) and run."""
        found = await self._story(row.story_id)
        if found is None:
            return None
        story, parent = found
        lead = lead_at(story, row.lead) if sent else choose_lead(story, row.lang)
        key = (story.id, row.lang, lead.url)
        if key not in self._alerts:
            self._alerts[key] = render_alert(story, row.lang, lead=lead, parent=parent)
        return story, lead, self._alerts[key]

    async def _deliver(self, unit: outbox.Unit, message: tuple[str, int, str | None] | None) -> None:
        try:
            await self._send(unit, message)
        except SQLAlchemyError as error:
            self.store_refused(error)

    async def _send(self, unit: outbox.Unit, message: tuple[str, int, str | None] | None) -> None:
        if message is None:
            await asyncio.to_thread(outbox.drop, self.engine, unit, "story not found")
            metrics.alerts_dropped("story_missing")
            return
        text, rendered_count, lead = message
        try:
            message_id = await self.sender.send(unit.chat_id, text)
        except TelegramError as error:  # nothing was sent: if the store refuses this, it is tried again
            await asyncio.to_thread(self._failed, unit, error)
            return
        sent = Sent(unit, message_id, rendered_count, lead)
        try:
            await asyncio.to_thread(self._record, sent)
        except SQLAlchemyError:
            self.unrecorded[unit.key] = sent  # Telegram has it: never again, whatever the store says
            raise
        if isinstance(unit, outbox.Delivery) and (alert := self._stories.get(unit.story_id)):
            metrics.alert_sent(unit.story_id, alert[0].created)
        else:  # a digest message: the alerts in it waited on purpose, no latency to measure
            metrics.ALERTS_SENT.inc()

    def _record(self, sent: Sent) -> None:
        outbox.mark_sent(self.engine, sent.unit, sent.message_id, sent.rendered_count, sent.lead)

    def _failed(self, unit: outbox.Unit, error: TelegramError) -> None:
        """Decide what a Telegram error means for this delivery (the order of checks matters:
        BadRequest and TimedOut are NetworkErrors)."""
        now = self.clock()
        if isinstance(error, RetryAfter):
            wait = retry_seconds(error)
            self.pacer.pause(wait)
            outbox.retry_later(self.engine, unit, unit.attempts, now + timedelta(seconds=wait), str(error))
            log.warning("Telegram asked to wait %.0f s (chat %s)", wait, unit.chat_id)
        elif isinstance(error, ChatMigrated):
            subscribers.migrate_chat(self.engine, unit.chat_id, error.new_chat_id)
            log.info("chat %s migrated to %s", unit.chat_id, error.new_chat_id)
        elif isinstance(error, Forbidden) or (isinstance(error, BadRequest) and _chat_gone(error)):
            self._deactivate(unit, error)
        elif isinstance(error, BadRequest):
            outbox.drop(self.engine, unit, str(error))  # the message itself is refused: retrying won't help
            metrics.alerts_dropped("refused")
            log.error("Telegram refused %s: %s", unit.what, error)
        else:  # TimedOut, NetworkError, 5xx, anything else: maybe transient, keep trying with backoff
            attempts = unit.attempts + 1
            delay = min(MAX_BACKOFF, 2.0**attempts)
            outbox.retry_later(self.engine, unit, attempts, now + timedelta(seconds=delay), str(error))
            kind = (
                "timed out"
                if isinstance(error, TimedOut)
                else "network"
                if isinstance(error, NetworkError)
                else "error"
            )
            log.warning("send to %s %s (%s); retry in %.0f s", unit.chat_id, kind, error, delay)

    async def edit_updated(self) -> None:
        """Add newly reporting outlets to alerts already sent ("also reported by")."""
        rows = await asyncio.to_thread(outbox.needing_edit, self.engine, console=self.console)
        for row in rows:
            if self.stopping:
                return
            alert = await self._alert(row, sent=True)
            if alert is None or row.message_id is None:
                continue
            story, _, text = alert
            await self.pacer.slot(row.chat_id)
            try:
                await self.sender.edit(row.chat_id, row.message_id, text)
                metrics.ALERTS_EDITED.inc()
            except RetryAfter as error:
                self.pacer.pause(retry_seconds(error))
                return
            except ChatMigrated as error:  # the old group's messages cannot be edited any more
                await asyncio.to_thread(subscribers.migrate_chat, self.engine, row.chat_id, error.new_chat_id)
            except Forbidden as error:
                await asyncio.to_thread(self._deactivate, row, error)
                continue
            except BadRequest as error:
                if _chat_gone(error):
                    await asyncio.to_thread(self._deactivate, row, error)
                    continue
                if "not modified" not in str(error).lower():  # e.g. the user deleted the alert
                    log.info("could not edit alert in chat %s: %s", row.chat_id, error)
            except TelegramError as error:  # network, 5xx: the next run tries again
                log.warning("edit failed in chat %s: %s", row.chat_id, error)
                continue
            await asyncio.to_thread(outbox.mark_rendered, self.engine, row, len(story.outlets))

    def _deactivate(self, unit: outbox.Unit, error: TelegramError) -> None:
        subscribers.deactivate(self.engine, unit.chat_id, str(error))
        dropped = outbox.drop_for_subscriber(self.engine, unit.subscriber_id, str(error))
        metrics.alerts_dropped("chat_gone", dropped)
        log.info("chat %s deactivated: %s", unit.chat_id, error)


def _chat_gone(error: BadRequest) -> bool:
    text = str(error).lower()
    return any(marker in text for marker in GONE)
