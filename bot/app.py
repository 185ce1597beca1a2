"""The python-telegram-bot Application: handlers wired to commands, pointed at any Bot API server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot, Update
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
from newswatch.storage import subscribers
from newswatch.storage.schema import utcnow

from . import handlers, schedule_commands, tracker_commands, tracker_view
from .delivery import store_problem
from .flood import FloodGuard, Verdict
from .i18n import DEFAULT
from .pacing import Pacer
from .polling import PollingRequest, TokenWatch

log = logging.getLogger(__name__)


ROOM = 1_000_000  # PTB's own semaphore: never the limit (see PerChatUpdates)


class PerChatUpdates(BaseUpdateProcessor):
    """Chats are served concurrently, each chat's updates one at a time and in order, within the
    limits of a :class:`FloodGuard`.

    A reply waits for its chat's pace (1 s in a private chat, 3 s in a group), so handling every
    update in turn would let one talkative user hold up everybody; handling a chat's updates
    concurrently would let two quick button presses overwrite each other's choice.

    PTB's ``process_update`` takes its semaphore *before* calling ``do_process_update``: with the
    semaphore as the limit, one chat's backlog waiting for its own turn held every slot, and 150
    ``/help`` from one user delayed another user's by 90 s. So PTB's semaphore gets room for every
    update, the guard caps each chat's backlog, and the global slots are taken here, after the chat's
    turn has come.
    """

    def __init__(self, guard: FloodGuard | None = None, max_concurrent_updates: int = 64):
        super().__init__(ROOM)
        self.guard = guard or FloodGuard()
        self.refuse: Callable[[Update], Awaitable[Any]] | None = None  # the polite reply (build_application)
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._locks: dict[int | None, asyncio.Lock] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat, user = _counted(update)
        verdict = self.guard.admit(chat, user)
        if verdict is not Verdict.SERVE:
            coroutine.close()  # type: ignore[attr-defined]  # never started: its handlers do not run
            if verdict is Verdict.DROP:
                return
            assert self.refuse is not None and isinstance(update, Update)
            coroutine = self.refuse(update)
        lock = self._locks.setdefault(chat, asyncio.Lock())
        try:
            async with lock, self._slots:
                await coroutine
        finally:
            if not self.guard.done(chat):
                del self._locks[chat]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def _counted(update: object) -> tuple[int | None, int | None]:
    """The chat whose order an update keeps, and the user whose command rate it counts against
    (None for service messages such as a group's migration, which nobody typed)."""
    if not isinstance(update, Update):
        return None, None
    chat, user = update.effective_chat, update.effective_user
    typed = update.callback_query is not None or (update.message is not None and update.message.text)
    return (chat.id if chat else None), (user.id if user and typed else None)


def build_application(
    config: Config, engine: Engine, on_token_rejected: Callable[[], None] = lambda: None
) -> Application:
    base = config.telegram.api_base_url  # ends in /bot: the config refuses anything else
    processor = PerChatUpdates()
    polling = PollingRequest(on_token_rejected, connection_pool_size=1, read_timeout=40)
    app = (
        ApplicationBuilder()
        .token(config.telegram.token)
        .base_url(base)
        .base_file_url(base.removesuffix("/bot") + "/file/bot")
        .request(
            TokenWatch(
                on_token_rejected,
                connection_pool_size=32,
                connect_timeout=10,
                read_timeout=15,
                write_timeout=15,
                pool_timeout=10,
            )
        )
        .get_updates_request(polling)
        .concurrent_updates(processor)
        .job_queue(None)  # APScheduler runs our jobs directly (newswatch.service)
        .build()
    )
    processor.refuse = lambda update: handlers.slow_down(
        update, app.context_types.context.from_update(update, app)
    )
    # clock: now, aware UTC, as delivery's (tests move both)
    app.bot_data.update(
        engine=engine, config=config, pacer=Pacer(), flood=processor.guard, polling=polling, clock=utcnow
    )
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
        ("tracker", tracker_commands.tracker_command),
        ("quiet", schedule_commands.quiet),
        ("digest", schedule_commands.digest),
        ("tz", schedule_commands.tz),
    ):
        app.add_handler(CommandHandler(name, callback))
    app.add_handler(CallbackQueryHandler(tracker_commands.tracker_button, pattern=f"^{tracker_view.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(handlers.menu_button))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, handlers.migrated))
    app.add_handler(MessageHandler(filters.COMMAND, handlers.unknown))
    app.add_handler(
        MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, handlers.chatter)
    )
    app.add_error_handler(_log_error)
    return app


async def register_commands(bot: Bot) -> None:
    """The command menu in every language: English for everyone, and for each other language the
    menu Telegram shows users whose app is in it (``language_code``: "zh" covers zh-hans, zh-hant…)."""
    await bot.set_my_commands(handlers.commands(DEFAULT))
    for lang in subscribers.LANGS:
        if lang != DEFAULT:
            await bot.set_my_commands(handlers.commands(lang), language_code=lang)


async def _log_error(update: object, context) -> None:
    if isinstance(context.error, SQLAlchemyError) and isinstance(update, Update):
        # the store refuses writes (or is gone): one line, and the user is told, not left waiting
        log.error("update %s not handled: %s", update.update_id, store_problem(context.error))
        await handlers.store_unavailable(update, context)
        return
    log.error(
        "handler failed for %s: %s",
        getattr(update, "update_id", update),
        context.error,
        exc_info=context.error,
    )


ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
