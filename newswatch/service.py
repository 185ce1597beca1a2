"""``newswatch run``: the long-running service, wiring its roles together.

APScheduler (asyncio) drives everything: one interval job per enabled source, the delivery job, and
housekeeping. Polls go to the crawl dispatcher (``dispatch``); the scrapers write stories; the delivery
job reads them and fans them out (``bot.delivery``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from telegram.error import InvalidToken, NetworkError, TelegramError

from bot.app import ALLOWED_UPDATES, build_application
from bot.delivery import ALERTS_SINCE, Delivery
from bot.handlers import COMMANDS
from bot.pacing import Pacer
from bot.senders import CONSOLE_CHAT_ID, ConsoleSender, TelegramSender

from . import logredact, metrics
from .config import Config, SourceConfig
from .dispatch import CrawlDispatcher, backoff_seconds
from .storage import articles, connect, subscribers
from .storage import sources as source_store
from .storage import stories as story_store
from .storage.instance import InstanceLease

if TYPE_CHECKING:
    from .web.app import WebServer

log = logging.getLogger("newswatch")

SHUTDOWN_GRACE = 8.0  # SIGTERM to exit: under 10 s


class Service:
    def __init__(self, config: Config, engine: Engine | None = None):
        self.config = config
        self.engine: Engine = engine or connect(config.storage_url)
        self.token_rejected = False
        self.app = (
            build_application(config, self.engine, self._token_rejected) if config.telegram.token else None
        )
        if self.app:
            # one pacer for alerts and command replies: Telegram counts them together
            self.delivery = Delivery(
                self.engine, TelegramSender(self.app.bot), config.alerts, self.app.bot_data["pacer"]
            )
        else:  # the console has no rate limits
            self.delivery = Delivery(
                self.engine,
                ConsoleSender(),
                config.alerts,
                Pacer(per_second=1000, private_interval=0, group_interval=0),
                console=True,
            )
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.dispatcher = CrawlDispatcher(
            config, self._crawled, config.crawl.max_parallel_crawls, self._may_poll
        )
        self.stopping = asyncio.Event()
        self.lease = InstanceLease(self.engine)
        self.web: WebServer | None = None
        if config.web.address:
            from .web.app import WebServer  # here: its libraries load only when the web side is on
            from .web.health import Health

            self.web = WebServer(config, self.engine, Health(config.storage_url, self.scheduler, self.app))
        metrics.watch_pause(self.delivery.pacer.paused_for)
        self.next_poll: dict[str, float] = {}
        self._delivery_task: asyncio.Task | None = None
        self._deliver_again = False
        self._first_round: set[str] = set()

    # --- jobs --------------------------------------------------------------------------------------

    async def poll(self, source: SourceConfig) -> None:
        """The per-source interval job: submit a crawl unless the source is backing off."""
        if self._may_poll(source.name):
            metrics.poll_due(source.name)
            self.dispatcher.submit(source.name)

    def _may_poll(self, name: str) -> bool:
        return time.monotonic() >= self.next_poll.get(name, 0.0)

    async def _crawled(self, names: list[str]) -> None:
        try:
            await self._after_crawl(names)
        except SQLAlchemyError as error:  # tried again after the next crawl; reported with delivery's pause
            self.delivery.store_refused(error)
        self.kick_delivery()

    async def _after_crawl(self, names: list[str]) -> None:
        states = await asyncio.to_thread(source_store.all_states, self.engine)
        for name in names:
            state = states.get(name)
            metrics.poll_finished(name, ok=state is not None and state.failures == 0)
            if state and state.failures:
                wait = backoff_seconds(self.config.source(name).interval, state.failures)
                self.next_poll[name] = time.monotonic() + wait
                log.warning(
                    "%s failing (%d in a row): next try in %.0f s — %s",
                    name,
                    state.failures,
                    wait,
                    state.last_error,
                )
            else:
                self.next_poll.pop(name, None)
        for name in set(names) & self.delivery.history_sources:
            state = states.get(name)
            if state is not None and state.last_success is not None:
                count = await asyncio.to_thread(story_store.mark_history, self.engine, name)
                self.delivery.history_sources.discard(name)
                log.info("%s: first poll stored %d stories as history, alerts start now", name, count)
        if self._first_round:
            left = self._first_round - set(names)
            if not left:
                await asyncio.to_thread(self._alerts_start)
            self._first_round = left  # only now: a start the store refused is tried again

    def _alerts_start(self) -> None:
        if story_store.get_meta(self.engine, ALERTS_SINCE) is None:
            # First start: what the first round found is history, not news. Alert from now on.
            story_store.set_meta(self.engine, ALERTS_SINCE, datetime.now(UTC).isoformat())
            log.info("first round of polls stored; alerts start now")

    def kick_delivery(self) -> None:
        """Deliver right after a crawl instead of waiting for the next delivery tick; a kick during a
        run makes it run once more, so a story stored meanwhile does not wait for the next tick."""
        if self._delivery_task is None or self._delivery_task.done():
            self._delivery_task = asyncio.create_task(self.deliver())
        else:
            self._deliver_again = True

    async def deliver_tick(self) -> None:
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

    # --- lifecycle ---------------------------------------------------------------------------------

    def schedule(self) -> None:
        now = datetime.now(UTC)
        # A source that has never been polled successfully (added later, or failing since the first
        # start) finds a backlog on its first good poll, not news: held back, then stored as history.
        states = source_store.all_states(self.engine)
        self.delivery.history_sources = {
            s.name
            for s in self.config.sources
            if s.enabled and (states.get(s.name) is None or states[s.name].last_success is None)
        }
        for source in self.config.sources:
            if not source.enabled:
                continue
            self.scheduler.add_job(
                self.poll,
                "interval",
                args=[source],
                id=f"poll:{source.name}",
                seconds=source.interval,
                jitter=min(source.interval * 0.1, 30),
                next_run_time=now,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=int(max(source.interval, 1)),
            )
            self._first_round.add(source.name)
        self.scheduler.add_job(
            self.deliver_tick,
            "interval",
            id="deliver",
            seconds=self.config.alerts.delivery_interval,
            coalesce=True,
            max_instances=1,
        )
        self.scheduler.add_job(self.housekeeping, "interval", id="housekeeping", hours=1, coalesce=True)
        self.scheduler.add_job(self.renew_lease, "interval", id="lease", seconds=10, coalesce=True)
        if not self._first_round and story_store.get_meta(self.engine, ALERTS_SINCE) is None:
            story_store.set_meta(self.engine, ALERTS_SINCE, now.isoformat())

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
            await self.app.bot.set_my_commands(COMMANDS)
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

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        holder = await asyncio.to_thread(self.lease.acquire)
        if holder is not None:
            log.error(
                "another newswatch is running on this store (%s): stop it first, or give this one "
                "its own [storage] url",
                holder.describe(datetime.now(UTC)),
            )
            return 2
        if self.web is not None:
            try:
                await self.web.start()
            except OSError as exc:
                log.error("web: cannot listen on %s (%s)", self.config.web.listen, exc.strerror or exc)
                await asyncio.to_thread(self.lease.release)
                return 2
        try:
            await self.start_bot()
        except InvalidToken:
            log.error("Telegram rejected the bot token (check NEWSWATCH_TELEGRAM_TOKEN)")
            if self.web is not None:
                await self.web.stop()
            await asyncio.to_thread(self.lease.release)
            return 2
        self.dispatcher.start()
        self.schedule()
        self.scheduler.start()
        log.info("newswatch running: %d sources, store %s", len(self._first_round), self.config.storage_url)
        await self.stopping.wait()
        await self.shutdown()
        return 2 if self.token_rejected else 0

    async def shutdown(self) -> None:
        """Stop taking work, let in-flight sends finish, then close; all within ``SHUTDOWN_GRACE``."""
        log.info("stopping")
        deadline = time.monotonic() + SHUTDOWN_GRACE
        self.scheduler.shutdown(wait=False)
        self.delivery.stopping = True
        await self.dispatcher.stop()
        if self._delivery_task and not self._delivery_task.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._delivery_task, max(0.5, deadline - time.monotonic() - 2))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.delivery.close(), max(0.5, deadline - time.monotonic() - 1.5))
        if self.app is not None and self.app.running:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._stop_bot(), max(0.5, deadline - time.monotonic()))
        if self.web is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.web.stop(), max(0.5, deadline - time.monotonic()))
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.lease.release)
        self.engine.dispose()
        log.info("stopped")

    async def _stop_bot(self) -> None:
        assert self.app is not None
        if self.app.updater and self.app.updater.running:
            await self.app.updater.stop()
        await self.app.stop()
        await self.app.shutdown()


def run(config: Config, engine: Engine | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    with logredact.redacting(config.telegram.token):
        try:
            return asyncio.run(_main(config, engine))
        except Exception:  # logged, so that the traceback is redacted too
            log.exception("newswatch stopped on an unexpected error")
            return 1


async def _main(config: Config, engine: Engine | None) -> int:
    return await Service(config, engine).main()
