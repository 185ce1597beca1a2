"""Telegram's rate limits, kept on our side so that Telegram never has to answer 429.

Bot FAQ: about 30 messages per second overall, 1 per second in a private chat, 20 per minute in a
group. We schedule every send (and edit) at an even spacing under those limits instead of bursting
and being told to wait; a 429 that still comes pauses everything for its ``retry_after``.

A send first waits for its chat's turn and only then books a global slot, so a chat that must wait
(a group's 3 s) never holds up the other chats.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from newswatch import metrics


class Pacer:
    def __init__(
        self,
        per_second: float = 28.0,
        private_interval: float = 1.05,
        group_interval: float = 3.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ):
        self.spacing = 1.0 / per_second
        self.private_interval = private_interval
        self.group_interval = group_interval
        self.clock = clock
        self.sleep = sleep
        self._next_global = 0.0
        self._paused_until = 0.0
        self._next_chat: dict[int, float] = {}

    def interval(self, chat_id: int) -> float:
        return self.group_interval if chat_id < 0 else self.private_interval

    def chat_ready_at(self, chat_id: int) -> float:
        return max(self._next_chat.get(chat_id, 0.0), self._paused_until)

    def chat_ready(self, chat_id: int) -> bool:
        return self.chat_ready_at(chat_id) <= self.clock()

    def pause(self, seconds: float) -> None:
        """Telegram said 429: nothing goes out until it is over."""
        metrics.TELEGRAM_429.inc()
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    def paused_for(self) -> float:
        """Seconds left of the current 429 pause; 0 or less when sending."""
        return self._paused_until - self.clock()

    async def slot(self, chat_id: int) -> None:
        """Wait for the chat's turn, then for the next global slot; both are booked on return."""
        while (wait := self.chat_ready_at(chat_id) - self.clock()) > 0:
            await self.sleep(wait)
        now = self.clock()
        start = max(now, self._next_global)
        self._next_global = start + self.spacing
        self._next_chat[chat_id] = start + self.interval(chat_id)
        if start > now:
            await self.sleep(start - now)
        while (wait := self._paused_until - self.clock()) > 0:  # a 429 arrived while we slept
            await self.sleep(wait)

    def forget_idle(self) -> None:
        """Drop chats whose interval has passed, so the table stays as small as the active set."""
        now = self.clock()
        self._next_chat = {c: t for c, t in self._next_chat.items() if t > now}
