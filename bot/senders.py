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
    """Prints alerts, so a fresh ``make run`` without a bot token shows the service working."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout

    async def send(self, chat_id: int, text: str) -> int | None:
        plain = unescape(_TAGS.sub("", _LINKS.sub(r"\2 (\1)", text)))  # a terminal shows the URL
        print(f"\n=== ALERT ===\n{plain}\n", file=self.stream, flush=True)
        return None

    async def edit(self, chat_id: int, message_id: int, text: str) -> None:
        return None
