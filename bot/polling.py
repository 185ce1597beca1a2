"""When getUpdates last answered: the health check's evidence that the bot is still polling.

python-telegram-bot's Updater keeps ``running`` true while its polling loop retries a Telegram it
cannot reach, so ``running`` alone would call a bot healthy that has heard nothing for an hour.
"""

from __future__ import annotations

import time
from typing import Any

from telegram.request import HTTPXRequest


class PollingRequest(HTTPXRequest):
    """The getUpdates connection; remembers when Telegram last answered it (any HTTP answer counts:
    the long poll is alive even when Telegram says 409 or 502)."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.last_answer = time.monotonic()  # the first long poll may legitimately take its timeout

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        answer = await super().do_request(*args, **kwargs)
        self.last_answer = time.monotonic()
        return answer

    def silent_for(self) -> float:
        return time.monotonic() - self.last_answer
