"""``/healthz``: is the service doing its job right now?

Three checks, each naming itself when it fails: the scheduler runs (polls and deliveries are driven
by it), the store takes a write (a new connection commits a touch of a meta row, as a crawl's new
connection would; a read-only or full store fails it), and — with a token — the bot is polling
(the Updater runs and Telegram answered a getUpdates recently).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.schedulers.base import STATE_RUNNING, BaseScheduler
from telegram.ext import Application

from bot.polling import PollingRequest

from ..storage import connect
from ..storage import stories as story_store

HEALTH_KEY = "healthz"  # meta row the store check writes
STORE_TIMEOUT = 5.0  # a store that takes longer to commit one row is not healthy
POLL_SILENCE = 90.0  # getUpdates long-polls 30 s: three missed answers and the bot is not polling


@dataclass
class Health:
    store_url: str
    scheduler: BaseScheduler
    bot: Application | None = None  # None: no token, no bot to check
    _probe: asyncio.Task | None = field(default=None, init=False, repr=False)

    async def failures(self) -> list[str]:
        """The failing checks, each as "name: why"; empty when healthy."""
        failed = []
        if self.scheduler.state != STATE_RUNNING:
            failed.append("scheduler: not running")
        if problem := await self._store():
            failed.append(f"store: {problem}")
        if self.bot is not None and (problem := self._polling()):
            failed.append(f"bot: {problem}")
        return failed

    async def _store(self) -> str | None:
        # One probe at a time: a stuck store must not pile up a thread per request.
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(asyncio.to_thread(_write_probe, self.store_url))
        try:
            await asyncio.wait_for(asyncio.shield(self._probe), STORE_TIMEOUT)
        except TimeoutError:
            return f"no write within {STORE_TIMEOUT:g} s"
        except Exception as exc:  # whatever the driver says is the operator's best clue
            reason = getattr(exc, "orig", None) or exc  # the driver's words, without SQLAlchemy's SQL
            return " ".join(str(reason).split())[:200] or type(reason).__name__
        return None

    def _polling(self) -> str | None:
        assert self.bot is not None
        if self.bot.updater is None or not self.bot.updater.running:
            return "not polling Telegram"
        polling: PollingRequest = self.bot.bot_data["polling"]
        if (silence := polling.silent_for()) > POLL_SILENCE:
            return f"no answer to getUpdates for {silence:.0f} s"
        return None


def _write_probe(url: str) -> None:
    engine = connect(url, upgrade=False, pooled=False)
    try:
        story_store.set_meta(engine, HEALTH_KEY, datetime.now(UTC).isoformat())
    finally:
        engine.dispose()
