"""The python-telegram-bot Application: handlers wired to commands, pointed at any Bot API server."""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from newswatch.config import Config

from . import handlers
from .pacing import Pacer

log = logging.getLogger(__name__)


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
        ("status", handlers.status),
    ):
        app.add_handler(CommandHandler(name, callback))
    app.add_handler(CallbackQueryHandler(handlers.menu_button))
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
