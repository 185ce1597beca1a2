"""From stored stories to sent alerts, through the outbox.

``fanout`` turns each new story into outbox rows for the subscribers who want it (idempotent: the
outbox is unique per subscriber and story). ``send_due`` sends pending rows at Telegram's pace and
records each result; ``edit_updated`` adds "also reported by" to alerts already sent. Every outcome
of a send maps to one decision: sent, retry later, deactivate the chat, follow a migration, or drop
one message Telegram will never accept.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from newswatch.config import AlertsConfig
from newswatch.storage import outbox, subscribers
from newswatch.storage import stories as story_store
from newswatch.storage.stories import Story

from .choices import story_text, wants
from .pacing import Pacer
from .render import Lead, choose_lead, lead_at, render_alert
from .senders import Sender

log = logging.getLogger(__name__)

ALERTS_SINCE = "alerts_since"  # meta key: stories created before it are never alerted
MAX_BACKOFF = 300.0
GONE = (
    "chat not found",
    "user is deactivated",
    "bot was kicked",
    "chat_write_forbidden",
    "peer_id_invalid",
    "have no rights to send",
    "not enough rights",
)


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
    ):
        self.engine = engine
        self.sender = sender
        self.alerts = alerts
        self.pacer = pacer or Pacer()
        self.concurrency = concurrency
        self.console = console  # deliver only the console's rows (no token), else only Telegram's
        self.stopping = False
        self.history_sources: set[str] = set()  # sources on their first poll: their backlog is not news
        self._lock = asyncio.Lock()
        self._in_flight: set[int] = set()
        self._stories: dict[str, tuple[Story, Story | None] | None] = {}  # story and parent, per run
        self._alerts: dict[tuple[str, str | None, str], str] = {}  # (story, lang, lead link): text

    # --- fan-out -------------------------------------------------------------------------------

    def fanout(self) -> int:
        """Queue every new story for the subscribers who want it; returns rows queued."""
        since_text = story_store.get_meta(self.engine, ALERTS_SINCE)
        since = datetime.fromisoformat(since_text) if since_text else None
        queued = 0
        while batch := story_store.unqueued(self.engine, hold=self.history_sources):
            audience = subscribers.active(self.engine)
            for story in batch:
                if since is not None and story.created >= since and self._fresh(story):
                    text = story_text(story)
                    queued += outbox.enqueue(
                        self.engine, story.id, [s.id for s in audience if wants(s, story, text)]
                    )
            story_store.mark_queued(self.engine, [s.id for s in batch])
        return queued

    def _fresh(self, story: Story) -> bool:
        """Articles first seen long after publication are stored, never alerted."""
        return story.created - story.published <= timedelta(seconds=self.alerts.max_age)

    # --- sending -------------------------------------------------------------------------------

    async def run_once(self) -> None:
        """Fan out, send what is due, edit what grew. One run at a time."""
        async with self._lock:
            self._stories.clear()
            self._alerts.clear()
            await asyncio.to_thread(self.fanout)
            await self.send_due()
            await self.edit_updated()

    async def send_due(self) -> None:
        tasks: set[asyncio.Task] = set()
        limit = asyncio.Semaphore(self.concurrency)
        while not self.stopping:
            # A row read while its chat is in flight may be one being sent right now and marked sent
            # a moment after the read: rows of chats busy at any time since the read are left alone.
            busy = set(self._in_flight)
            rows = await asyncio.to_thread(outbox.due, self.engine, datetime.now(UTC), console=self.console)
            rows = [r for r in rows if r.chat_id not in busy and r.chat_id not in self._in_flight]
            if not rows:
                if not tasks:
                    break
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                continue
            started = set()
            for row in rows:
                if self.stopping:
                    break
                if (
                    row.chat_id in self._in_flight
                    or row.chat_id in started
                    or not self.pacer.chat_ready(row.chat_id)
                ):
                    continue
                alert = await self._alert(row)  # before the slot: the send follows it at once
                await limit.acquire()
                await self.pacer.slot(row.chat_id)
                if self.stopping:
                    limit.release()
                    break
                started.add(row.chat_id)
                self._in_flight.add(row.chat_id)
                task = asyncio.create_task(self._deliver(row, alert))
                tasks.add(task)
                task.add_done_callback(
                    lambda t, chat=row.chat_id: (
                        tasks.discard(t),
                        self._in_flight.discard(chat),
                        limit.release(),
                    )
                )
            if not started and not self.stopping:
                # everything due waits for its chat's pace (or a 429 pause): sleep until the first frees
                now = self.pacer.clock()
                waits = [self.pacer.chat_ready_at(r.chat_id) - now for r in rows]
                await self.pacer.sleep(min(max(min(waits), 0.01), 1.0))
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _story(self, story_id: str) -> tuple[Story, Story | None] | None:
        """The story and the earlier one it updates, read once per run."""
        if story_id not in self._stories:
            story = await asyncio.to_thread(story_store.get, self.engine, story_id)
            parent = None
            if story is not None and story.parent_id:
                parent = await asyncio.to_thread(story_store.get, self.engine, story.parent_id)
            self._stories[story_id] = (story, parent) if story else None
        return self._stories[story_id]

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

    async def _deliver(self, row: outbox.Delivery, alert: tuple[Story, Lead, str] | None) -> None:
        if alert is None:
            await asyncio.to_thread(outbox.drop, self.engine, row.id, "story not found")
            return
        story, lead, text = alert
        try:
            message_id = await self.sender.send(row.chat_id, text)
        except TelegramError as error:
            await asyncio.to_thread(self._failed, row, error)
            return
        await asyncio.to_thread(
            outbox.mark_sent, self.engine, row.id, message_id, len(story.outlets), lead.url
        )

    def _failed(self, row: outbox.Delivery, error: TelegramError) -> None:
        """Decide what a Telegram error means for this delivery (the order of checks matters:
        BadRequest and TimedOut are NetworkErrors)."""
        now = datetime.now(UTC)
        if isinstance(error, RetryAfter):
            wait = retry_seconds(error)
            self.pacer.pause(wait)
            outbox.retry_later(self.engine, row.id, row.attempts, now + timedelta(seconds=wait), str(error))
            log.warning("Telegram asked to wait %.0f s (chat %s)", wait, row.chat_id)
        elif isinstance(error, ChatMigrated):
            subscribers.migrate_chat(self.engine, row.chat_id, error.new_chat_id)
            log.info("chat %s migrated to %s", row.chat_id, error.new_chat_id)
        elif isinstance(error, Forbidden) or (isinstance(error, BadRequest) and _chat_gone(error)):
            self._deactivate(row, error)
        elif isinstance(error, BadRequest):
            outbox.drop(self.engine, row.id, str(error))  # the message itself is refused: retrying won't help
            log.error("Telegram refused the alert for story %s: %s", row.story_id, error)
        else:  # TimedOut, NetworkError, 5xx, anything else: maybe transient, keep trying with backoff
            attempts = row.attempts + 1
            delay = min(MAX_BACKOFF, 2.0**attempts)
            outbox.retry_later(self.engine, row.id, attempts, now + timedelta(seconds=delay), str(error))
            kind = (
                "timed out"
                if isinstance(error, TimedOut)
                else "network"
                if isinstance(error, NetworkError)
                else "error"
            )
            log.warning("send to %s %s (%s); retry in %.0f s", row.chat_id, kind, error, delay)

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
            await asyncio.to_thread(outbox.mark_rendered, self.engine, row.id, len(story.outlets))

    def _deactivate(self, row: outbox.Delivery, error: TelegramError) -> None:
        subscribers.deactivate(self.engine, row.chat_id, str(error))
        outbox.drop_for_subscriber(self.engine, row.subscriber_id, str(error))
        log.info("chat %s deactivated: %s", row.chat_id, error)


def _chat_gone(error: BadRequest) -> bool:
    text = str(error).lower()
    return any(marker in text for marker in GONE)
