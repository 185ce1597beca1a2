"""What every source spider shares: the index request with conditional GET, and failure bookkeeping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import scrapy
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import TimeoutError as TwistedTimeoutError
from twisted.python.failure import Failure

from newswatch.config import SourceConfig

from ..items import PollOutcome
from ..middlewares import KnownArticle


class SourceSpider(scrapy.Spider):
    source: ClassVar[SourceConfig]
    max_articles: ClassVar[int] = 60

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.poll = PollOutcome()

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield scrapy.Request(
            self.source.url, callback=self.parse_index, errback=self.index_failed, dont_filter=True,
            meta={"conditional_get": self.source.name, "handle_httpstatus_list": [304]},
        )

    def parse_index(self, response: Response) -> Any:
        raise NotImplementedError

    def remember_validators(self, response: Response) -> bool:
        """False (and nothing to parse) when the server answered 304 Not Modified."""
        if response.status == 304:
            self.poll.not_modified = True
            return False
        self.poll.etag = _header(response, b"ETag")
        self.poll.last_modified = _header(response, b"Last-Modified")
        return True

    def follow_article(self, url: str, canonical: str, callback: Callable[..., Any], **meta: Any) -> scrapy.Request:
        return scrapy.Request(url, callback=callback, errback=self.article_failed,
                              meta={"canonical": canonical, **meta})

    def index_failed(self, failure: Failure) -> None:
        self.poll.error = describe_failure(failure)
        self.logger.warning("%s: %s", self.source.name, self.poll.error)

    def article_failed(self, failure: Failure) -> None:
        if failure.check(KnownArticle):
            return
        self.poll.article_failures.append(describe_failure(failure))
        self.logger.warning("%s: article failed: %s", self.source.name, self.poll.article_failures[-1])


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def describe_failure(failure: Failure) -> str:
    """One line an operator understands, for ``newswatch sources`` and the crawl summary."""
    request = getattr(failure, "request", None)
    url = request.url if request is not None else ""
    if failure.check(HttpError):
        response = failure.value.response
        return f"HTTP {response.status} from {response.url}"
    if failure.check(TwistedTimeoutError) or "timeout" in type(failure.value).__name__.lower() \
            or "took longer than" in str(failure.value):
        return f"timed out fetching {url}"
    message = str(failure.value).strip() or type(failure.value).__name__
    return f"{message} ({url})" if url and url not in message else message
