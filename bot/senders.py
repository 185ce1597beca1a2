"""Where alerts go: Telegram through python-telegram-bot, or the console when there is no token."""

from __future__ import annotations

import re
import sys
from html import unescape
from typing import Protocol, TextIO

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode

CONSOLE_CHAT_ID = 0
_TAGS = re.compile(r"<[^>]+>")
_LINKS = re.compile(r'<a href="([^"]*)">(.*?)</a>')


class Sender(Protocol):
    async def send(self, chat_id: int, text: str) -> int | None: ...

    async def edit(self, chat_id: int, message_id: int, text: str) -> None: ...


class TelegramSender:
    """Sends HTML messages; Telegram's errors propagate as python-telegram-bot raises them."""

    def __init__(self, bot: Bot):
        self.bot = bot

    async def send(self, chat_id: int, text: str) -> int | None:
        message = await self.bot.send_message(
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        return message.message_id

    async def edit(self, chat_id: int, message_id: int, text: str) -> None:
        await self.bot.edit_message_text(
            text,
            chat_id=chat_id,
            message_id=message_id,
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )


class ConsoleSender:
    """Prints alerts, so a fresh ``make run`` without a bot token shows the service working; and
    their edits ("also reported by"), as Telegram would show them, so the console tells the same
    story a chat does (``newswatch demo`` relies on it)."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        # A message id per alert, as Telegram gives one, so that the outbox asks for its edits. An
        # edit after a restart may name a number this run gives again: the console only prints.
        self._last_id = 0

    async def send(self, chat_id: int, text: str) -> int | None:
        self._last_id += 1
        self._print(f"=== ALERT === #{self._last_id}", text)
        return self._last_id

    async def edit(self, chat_id: int, message_id: int, text: str) -> None:
        self._print(f"=== ALERT EDITED === #{message_id}", text)

    def _print(self, heading: str, text: str) -> None:
        plain = unescape(_TAGS.sub("", _LINKS.sub(r"\2 (\1)", text)))  # a terminal shows the URL
        print(f"\n{heading}\n{plain}\n", file=self.stream, flush=True)
