"""Keep the bot token out of every log line.

python-telegram-bot puts the token in the path of every request (``…/bot123:SECRET/getUpdates``), so
any message that quotes a URL (an httpx error, a debug line, a traceback) can carry it. A filter on
each handler of the root logger — which the records of PTB, httpx, APScheduler and our own loggers
all reach — rewrites the token, and its secret half on its own, before anything is written.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

REDACTED = "[token]"
_FORMATTER = logging.Formatter()


class TokenRedactor(logging.Filter):
    def __init__(self, token: str):
        super().__init__()
        _, _, secret = token.partition(":")
        # the whole token first, then the half that matters alone (a URL may split the two)
        self.secrets = [s for s in dict.fromkeys((token, secret)) if len(s) >= 4]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


@contextlib.contextmanager
def redacting(token: str) -> Iterator[TokenRedactor]:
    """Redact ``token`` in everything the root logger's handlers write, while the block runs."""
    redactor = TokenRedactor(token)
    handlers = [*logging.getLogger().handlers, logging.lastResort]
    for handler in handlers:
        if handler is not None:
            handler.addFilter(redactor)
    try:
        yield redactor
    finally:
        for handler in handlers:
            if handler is not None:
                handler.removeFilter(redactor)
