"""The python-telegram-bot Application: handlers wired to commands, pointed at any Bot API server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from sqlalchemy import Engine
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from newswatch.config import Config

from . import handlers
from .pacing import Pacer

log = logging.getLogger(__name__)


class PerChatUpdates(BaseUpdateProcessor):
    """Chats are served concurrently, each chat's updates one at a time and in order.

    A reply waits for its chat's pace (1 s in a private chat, 3 s in a group), so handling every
    update in turn would let one talkative user hold up everybody; handling a chat's updates
    concurrently would let two quick button presses overwrite each other's choice.
    """

    def __init__(self, max_concurrent_updates: int = 64):
        super().__init__(max_concurrent_updates)
        self._locks: dict[int | None, tuple[asyncio.Lock, int]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        key = chat.id if chat else None
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def build_application(config: Config, engine: Engine) -> Application:
    base = config.telegram.api_base_url
    app = (
        ApplicationBuilder()
        .token(config.telegram.token)
        .base_url(base)
        .base_file_url(base.replace("/bot", "/file/bot", 1) if base.endswith("/bot") else base)
        .connection_pool_size(32)
        .connect_timeout(10)
        .read_timeout(15)
        .write_timeout(15)
        .pool_timeout(10)
        .get_updates_read_timeout(40)
        .concurrent_updates(PerChatUpdates())
        .job_queue(None)  # APScheduler runs our jobs directly (newswatch.service)
        .build()
    )
    app.bot_data.update(engine=engine, config=config, pacer=Pacer())
    for name, callback in (
        ("start", handlers.start),
        ("stop", handlers.stop),
        ("help", handlers.help_command),
        ("regions", handlers.regions),
        ("providers", handlers.providers),
        ("watch", handlers.watch),
        ("unwatch", handlers.unwatch),
        ("keywords", handlers.keywords),
        ("latest", handlers.latest),
        ("lang", handlers.lang),
        ("status", handlers.status),
    ):
        app.add_handler(CommandHandler(name, callback))
    app.add_handler(CallbackQueryHandler(handlers.menu_button))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, handlers.migrated))
    app.add_handler(MessageHandler(filters.COMMAND, handlers.unknown))
    app.add_handler(
        MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, handlers.chatter)
    )
    app.add_error_handler(_log_error)
    return app


async def _log_error(update: object, context) -> None:
    log.error(
        "handler failed for %s: %s",
        getattr(update, "update_id", update),
        context.error,
        exc_info=context.error,
    )


ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
