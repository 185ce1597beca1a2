"""PTB's HTTP requests, watched: a token Telegram rejects, and when getUpdates last answered.

python-telegram-bot's Updater keeps ``running`` true while its polling loop retries a Telegram it
cannot reach, so ``running`` alone would call a bot healthy that has heard nothing for an hour: the
health check asks the getUpdates connection when it last heard back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from telegram.request import HTTPXRequest


class TokenWatch(HTTPXRequest):
    """PTB's HTTP requests, noticing Telegram's 401: the token was revoked while the bot runs.

    PTB's polling loop stops for good on it, leaving a service that is up and deaf; ``on_rejected``
    lets the service exit instead, so that its supervisor restarts it or raises the alarm.
    """

    def __init__(self, on_rejected: Callable[[], None], **kwargs: Any):
        super().__init__(**kwargs)
        self.on_rejected = on_rejected

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        status, payload = await super().do_request(*args, **kwargs)
        if status == HTTPStatus.UNAUTHORIZED:
            self.on_rejected()
        return status, payload


class PollingRequest(TokenWatch):
    """The getUpdates connection; remembers when Telegram last answered it (any HTTP answer counts:
    the long poll is alive even when Telegram says 409 or 502)."""

    def __init__(self, on_rejected: Callable[[], None], **kwargs: Any):
        super().__init__(on_rejected, **kwargs)
        self.last_answer = time.monotonic()  # the first long poll may legitimately take its timeout

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        answer = await super().do_request(*args, **kwargs)
        self.last_answer = time.monotonic()
        return answer

    def silent_for(self) -> float:
        return time.monotonic() - self.last_answer
