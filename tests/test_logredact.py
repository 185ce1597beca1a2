"""The bot token never reaches a log line, whatever quotes it: a message, its arguments, a traceback."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from newswatch.config import Config, TelegramConfig
from newswatch.logredact import REDACTED, redacting
from newswatch.roles.delivery import DeliveryRole
from newswatch.storage import connect
from tests.fixtures.botapi import FakeBotAPI

TOKEN = "123456:AAE-ReallySecretPart_0123456789abcdef"
SECRET = TOKEN.split(":")[1]


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """What a root handler writes, formatted as `newswatch run` formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.DEBUG
    yield stream
    root.removeHandler(handler)
    root.level = level


def test_the_token_and_its_secret_half_are_redacted_in_messages_arguments_and_tracebacks(
    log: io.StringIO,
) -> None:
    logger = logging.getLogger("telegram.ext.Updater")
    with redacting(TOKEN):
        logger.warning("POST https://api.telegram.org/bot%s/getUpdates failed", TOKEN)
        logger.warning("port %r is invalid", f"8081{SECRET}")
        try:
            raise ValueError(f"Invalid port: '8081{TOKEN}'")
        except ValueError:
            logger.exception("polling failed")
    logger.warning("after the block: %s", "not filtered")

    out = log.getvalue()
    assert SECRET not in out and "123456" not in out.split("after the block")[0]
    assert out.count(REDACTED) == 3  # in the message, in an argument, in the exception
    assert "after the block: not filtered" in out


def test_a_base_url_without_bot_logs_no_secret_while_telegram_is_retried(
    log: io.StringIO, botapi: FakeBotAPI, tmp_path: Path
) -> None:
    """Such a URL puts the token in the port ("http://127.0.0.1:8081" + "123:ABC/getMe"), and httpx
    quotes it in every retry. The config now refuses the URL; the filter is the second line."""
    botapi.token = TOKEN
    config = Config(
        path=tmp_path / "config.toml",
        storage_url=f"sqlite:///{tmp_path / 'store.db'}",
        sources=(),
        telegram=TelegramConfig(token=TOKEN, api_base_url=botapi.base_url.removesuffix("/bot")),
    )

    async def start_then_stop() -> None:
        engine = connect(config.storage_url)
        delivery = DeliveryRole(config, engine, asyncio.Event())
        starting = asyncio.create_task(delivery.start_bot())
        await asyncio.sleep(2.5)  # two retries
        delivery.stopping.set()
        await starting
        engine.dispose()

    with redacting(TOKEN):
        asyncio.run(start_then_stop())

    out = log.getvalue()
    assert out.count("Telegram not reachable") >= 2, out
    assert SECRET not in out
