"""The delivery role: the Telegram bot (or the console), the outbox, and when alerts start.

One runs per store: it holds the instance lease (``storage.instance``), as Telegram's limits are per
bot and two senders would both send the pending alerts; after a crash another takes over.

It also decides what is history rather than news: on the first start, everything the first round of
polls finds; for a source never polled successfully, the backlog its first good poll finds. It learns
about polls from the store (whoever made them), and at once when a crawl in this process reports one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from telegram.error import InvalidToken, NetworkError, TelegramError

from bot.app import ALLOWED_UPDATES, build_application, register_commands
from bot.delivery import ALERTS_SINCE, Delivery
from bot.pacing import Pacer
from bot.senders import CONSOLE_CHAT_ID, ConsoleSender, TelegramSender

from .. import metrics
from ..config import Config
from ..storage import articles, subscribers
from ..storage import sources as source_store
from ..storage import stories as story_store
from ..storage.instance import InstanceLease

log = logging.getLogger("newswatch")


class DeliveryRole:
    def __init__(self, config: Config, engine: Engine, stopping: asyncio.Event):
        self.config = config
        self.engine = engine
        self.stopping = stopping
        self.token_rejected = False
        self.app = build_application(config, engine, self._token_rejected) if config.telegram.token else None
        if self.app:
            # one pacer for alerts and command replies: Telegram counts them together
            self.delivery = Delivery(
                engine, TelegramSender(self.app.bot), config.alerts, self.app.bot_data["pacer"]
            )
        else:  # the console has no rate limits
            self.delivery = Delivery(
                engine,
                ConsoleSender(),
                config.alerts,
                Pacer(per_second=1000, private_interval=0, group_interval=0),
                console=True,
            )
        metrics.watch_pause(self.delivery.pacer.paused_for)
        self.lease = InstanceLease(engine)
        self.first_round: set[str] = set()  # never polled, on a store whose alerts have not started
        self._delivery_task: asyncio.Task[None] | None = None
        self._deliver_again = False

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self, jobs: AsyncIOScheduler) -> int | None:
        """Take the lease and start the bot; an exit status when this service cannot run."""
        holder = await asyncio.to_thread(self.lease.acquire)
        if holder is not None:
            log.error(
                "another newswatch is running on this store (%s): stop it first, or give this one "
                "its own [storage] url",
                holder.describe(datetime.now(UTC)),
            )
            return 2
        try:
            await self.start_bot()
        except InvalidToken:
            log.error("Telegram rejected the bot token (check NEWSWATCH_TELEGRAM_TOKEN)")
            await asyncio.to_thread(self.lease.release)
            return 2
        await asyncio.to_thread(self._track_first_polls)
        interval = self.config.alerts.delivery_interval
        jobs.add_job(self.deliver_tick, "interval", id="deliver", seconds=interval, coalesce=True)
        jobs.add_job(self.housekeeping, "interval", id="housekeeping", hours=1, coalesce=True)
        jobs.add_job(self.renew_lease, "interval", id="lease", seconds=10, coalesce=True)
        return None

    def _track_first_polls(self) -> None:
        # A source that has never been polled successfully (added later, or failing since the first
        # start) finds a backlog on its first good poll, not news: held back, then stored as history.
        states = source_store.all_states(self.engine)
        enabled = [s.name for s in self.config.sources if s.enabled]
        self.delivery.history_sources = {
            n for n in enabled if states.get(n) is None or states[n].last_success is None
        }
        if story_store.get_meta(self.engine, ALERTS_SINCE) is None:
            self.first_round = {n for n in enabled if states.get(n) is None or states[n].last_poll is None}
            if not self.first_round:  # every source polled before: alerts start now
                self._alerts_start()

    async def start_bot(self) -> None:
        if self.app is None:
            subscribers.subscribe(self.engine, CONSOLE_CHAT_ID, "console", "console")
            log.info("no Telegram token: alerts are printed here (set NEWSWATCH_TELEGRAM_TOKEN to use a bot)")
            return
        existing = subscribers.get(self.engine, CONSOLE_CHAT_ID)
        if existing and existing.active:
            subscribers.deactivate(self.engine, CONSOLE_CHAT_ID, "a Telegram token is configured")
        delay = 1.0
        while not self.stopping.is_set():
            try:
                await self.app.initialize()
                break
            except InvalidToken:
                raise
            except (NetworkError, TelegramError) as exc:
                log.warning("Telegram not reachable (%s); retrying in %.0f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                delay = min(delay * 2, 60)
        if self.stopping.is_set():
            return
        with contextlib.suppress(TelegramError):
            await register_commands(self.app.bot)
        await self.app.start()
        await self.app.updater.start_polling(allowed_updates=ALLOWED_UPDATES, timeout=30)
        log.info("bot @%s is polling %s", self.app.bot.username, self.config.telegram.api_base_url)

    def _token_rejected(self) -> None:
        """Telegram answered 401: the token was revoked (or replaced) at @BotFather. PTB's polling
        gives up on it, so a service left running would be deaf: stop, and exit non-zero."""
        if self.token_rejected:
            return
        self.token_rejected = True
        if self.app is not None and self.app.running:
            log.error("Telegram no longer accepts the bot token (revoked at @BotFather?): stopping")
        self.stopping.set()

    async def renew_lease(self) -> None:
        try:
            renewed = await asyncio.to_thread(self.lease.renew)
        except SQLAlchemyError as error:  # delivery pauses too: nothing it sends could be recorded
            self.delivery.store_refused(error)
            return
        if not renewed:
            log.error("another newswatch took over this store (we were stalled too long): stopping")
            self.stopping.set()

    async def stop(self, grace: float) -> None:
        """Let in-flight sends finish, then close; within ``grace`` seconds."""
        deadline = asyncio.get_running_loop().time() + grace
        self.delivery.stopping = True
        if self._delivery_task and not self._delivery_task.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._delivery_task, max(0.5, self._left(deadline) - 2))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.delivery.close(), max(0.5, self._left(deadline) - 1.5))
        if self.app is not None and self.app.running:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._stop_bot(), max(0.5, self._left(deadline)))
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.lease.release)

    @staticmethod
    def _left(deadline: float) -> float:
        return deadline - asyncio.get_running_loop().time()

    async def _stop_bot(self) -> None:
        assert self.app is not None
        if self.app.updater and self.app.updater.running:
            await self.app.updater.stop()
        await self.app.stop()
        await self.app.shutdown()

    # --- polls -------------------------------------------------------------------------------------

    async def crawled(self, names: list[str]) -> None:
        """Sources were just polled in this process: settle their history, then deliver at once."""
        await self._settle_or_pause(names)
        self.kick_delivery()

    async def _settle_or_pause(self, names: list[str]) -> None:
        try:
            await self._settle(names)
        except SQLAlchemyError as error:  # tried again at the next tick; reported with delivery's pause
            self.delivery.store_refused(error)

    async def _settle(self, names: list[str]) -> None:
        watched = [n for n in names if n in self.delivery.history_sources or n in self.first_round]
        if not watched:
            return
        states = await asyncio.to_thread(source_store.states, self.engine, watched)
        # On a first start the whole first round is history (alerts start after it): nothing to mark
        # source by source, which would also compete with the crawls for the store's write lock.
        first_start = bool(self.first_round)
        left = set(self.first_round)
        for name in watched:
            state = states.get(name)
            if state is None or state.last_poll is None:
                continue
            left.discard(name)
            if name in self.delivery.history_sources and state.last_success is not None:
                if not first_start:  # marked before it is forgotten: a refused write is tried again
                    count = await asyncio.to_thread(story_store.mark_history, self.engine, name)
                    log.info("%s: first poll stored %d stories as history, alerts start now", name, count)
                self.delivery.history_sources.discard(name)
        if first_start and not left:
            await asyncio.to_thread(self._alerts_start)
        self.first_round = left  # only now: a start the store refused is tried again

    def _alerts_start(self) -> None:
        if story_store.get_meta(self.engine, ALERTS_SINCE) is None:
            # First start: what the first round found is history, not news. Alert from now on.
            story_store.set_meta(self.engine, ALERTS_SINCE, datetime.now(UTC).isoformat())
            log.info("first round of polls stored; alerts start now")

    # --- jobs --------------------------------------------------------------------------------------

    def kick_delivery(self) -> None:
        """Deliver right after a crawl instead of waiting for the next delivery tick; a kick during a
        run makes it run once more, so a story stored meanwhile does not wait for the next tick."""
        if self._delivery_task is None or self._delivery_task.done():
            self._delivery_task = asyncio.create_task(self.deliver())
        else:
            self._deliver_again = True

    async def deliver_tick(self) -> None:
        # polls made by crawlers elsewhere are only seen in the store
        await self._settle_or_pause(list(self.delivery.history_sources | self.first_round))
        self.kick_delivery()

    async def deliver(self) -> None:
        self._deliver_again = True
        while self._deliver_again and not self.stopping.is_set():
            self._deliver_again = False
            try:
                await self.delivery.run_once()
            except Exception:  # keep the job alive: the next tick retries from the durable outbox
                log.exception("delivery run failed")

    async def housekeeping(self) -> None:
        self.delivery.pacer.forget_idle()
        if self.app is not None:
            self.app.bot_data["flood"].forget_idle()
        try:
            await asyncio.to_thread(articles.prune_keys, self.engine, datetime.now(UTC))
        except SQLAlchemyError as error:  # reported (once a minute) with delivery's pause
            self.delivery.store_refused(error)
