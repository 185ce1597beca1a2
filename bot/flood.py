"""How much one chat or one user may ask of the bot: a backlog cap per chat, a command rate per user.

Replies in a chat go out at its pace (1 s apart in a private chat, 3 s in a group), so a user who
sends 150 commands would queue minutes of replies, and memory, for nothing. Each update is judged
when it arrives: served; refused with one polite reply (the first time a user runs out of commands);
or dropped. Pure: the clock is injected and nothing here talks to Telegram.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

MAX_BACKLOG = 8  # updates of one chat waiting or being served: 8 s of replies in a private chat
BURST = 10  # commands a user may send at once ...
PER_MINUTE = 20.0  # ... and then this many a minute


class Verdict(enum.Enum):
    SERVE = "serve"
    WARN = "warn"  # refused, and told so politely (once until the user slows down)
    DROP = "drop"


@dataclass
class _Bucket:
    tokens: float
    at: float
    warned: bool = False


class FloodGuard:
    def __init__(
        self,
        max_backlog: int = MAX_BACKLOG,
        burst: int = BURST,
        per_minute: float = PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_backlog = max_backlog
        self.burst = float(burst)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._backlog: dict[Hashable, int] = {}
        self._buckets: dict[int, _Bucket] = {}

    def admit(self, chat: Hashable, user: int | None) -> Verdict:
        """Judge one update as it arrives. SERVE and WARN hold a place in the chat's backlog until
        ``done(chat)``; a WARN may exceed the cap by one, so the polite reply is never lost."""
        if user is not None and not self._take(user):
            bucket = self._buckets[user]
            if bucket.warned:
                return Verdict.DROP
            bucket.warned = True
            self._backlog[chat] = self._backlog.get(chat, 0) + 1
            return Verdict.WARN
        if self._backlog.get(chat, 0) >= self.max_backlog:
            return Verdict.DROP
        self._backlog[chat] = self._backlog.get(chat, 0) + 1
        return Verdict.SERVE

    def done(self, chat: Hashable) -> int:
        """One admitted update of the chat is over; returns how many are still in its backlog."""
        left = self._backlog.get(chat, 1) - 1
        if left > 0:
            self._backlog[chat] = left
        else:
            self._backlog.pop(chat, None)
        return max(left, 0)

    def _take(self, user: int) -> bool:
        now = self.clock()
        bucket = self._buckets.get(user) or _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[user] = bucket
        if bucket.tokens == self.burst:  # calm again: a new flood gets a new polite reply
            bucket.warned = False
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def forget_idle(self) -> None:
        """Drop users whose allowance is full again, so the table stays as small as the active set."""
        now = self.clock()
        self._buckets = {
            user: b for user, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate < self.burst
        }
