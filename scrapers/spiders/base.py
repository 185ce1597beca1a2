"""The one spider of a crawl: it polls every source of the run, each through the reader of its kind.

All sources of a ``newswatch crawl`` share one spider, hence one engine and one downloader: per-host
concurrency limits hold across sources that share a host, and a poll of 200 sources costs one crawler,
not 200 (each with its own settings, engine, downloader and scraper queue). ``scrapy crawl <source>``
gets the same spider with that one source.

The reader of a kind (``feed.FeedReader``, ``ithome.IthomeReader``) turns an index response (a feed,
a list page) into leads and an article page into an item; this class does the bookkeeping they share:
conditional GET, skipping stored articles (one query per index, before anything is fetched), and each
source's poll outcome. Every lead is dealt with on its own: an entry that cannot be read, or whose
link the address rules refuse, is one failed article, never the end of the poll. When a page cannot
be fetched, what the index said of it (the teaser) is stored instead, and the page is fetched again
on later polls until its text fills the article in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DownloadCancelledError
from scrapy.http import Response
from scrapy.settings import BaseSettings
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.defer import CancelledError
from twisted.internet.error import TimeoutError as TwistedTimeoutError
from twisted.python.failure import Failure

from newswatch.config import SourceConfig
from newswatch.storage import articles

from .. import context
from ..items import ArticleItem, PollOutcome
from ..middlewares import FetchRefused


class SourceError(ValueError):
    """The index response is unusable (not a feed, no links): the source fails with this reason."""


@dataclass
class Lead:
    """An article an index points at: fetch ``url``, or take ``item`` as it is when the index had it all
    (full text, or no page to fetch). ``teaser`` is what the index alone says of it, stored when the
    page fails. A lead with a ``problem`` is an entry that could not be read: one failed article."""

    url: str
    canonical: str
    item: ArticleItem | None = None
    teaser: ArticleItem | None = None
    data: Any = None  # what the reader wants back with the page (a feed entry)
    problem: str | None = None


class Reader:
    """How one kind of source is read; one instance per source in the crawl."""

    def __init__(self, source: SourceConfig):
        self.source = source

    def leads(self, response: Response) -> list[Lead]:
        raise NotImplementedError

    def article(self, response: Response, lead_data: Any) -> ArticleItem | None:
        raise NotImplementedError


class NewsSpider(scrapy.Spider):
    name = "newswatch"
    sources: ClassVar[tuple[SourceConfig, ...]] = ()
    readers_by_kind: ClassVar[dict[str, type[Reader]]] = {}
    max_articles: ClassVar[int] = 60

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.polls: dict[str, PollOutcome] = {s.name: PollOutcome() for s in self.sources}
        self.readers: dict[str, Reader] = {s.name: self.readers_by_kind[s.kind](s) for s in self.sources}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> NewsSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.item_done, signal=signals.item_scraped)
        crawler.signals.connect(spider.item_done, signal=signals.item_dropped)
        crawler.signals.connect(spider.item_failed, signal=signals.item_error)
        crawler.signals.connect(spider.request_dropped, signal=signals.request_dropped)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for source in self.sources:
            yield scrapy.Request(
                source.url,
                callback=self.parse_index,
                errback=self.index_failed,
                dont_filter=True,
                meta={"source": source.name, "conditional_get": source.name, "handle_httpstatus_list": [304]},
            )

    # --- index ---------------------------------------------------------------------------------------

    def parse_index(self, response: Response) -> Iterator[scrapy.Request | ArticleItem]:
        name = response.meta["source"]
        poll = self.polls[name]
        poll.answered = True
        if response.status == 304:
            poll.not_modified = True
            return
        poll.etag = _header(response, b"ETag")
        poll.last_modified = _header(response, b"Last-Modified")
        try:
            leads = self.readers[name].leads(response)[: self.max_articles]
        except SourceError as exc:
            poll.error = f"{exc} ({response.url})"
            self.logger.warning("%s: %s", name, poll.error)
            return
        except Exception as exc:  # a bug or a surprise: fail the source (and keep no validators), don't crash
            poll.error = f"cannot read {response.url}: {type(exc).__name__}: {exc}"
            self.logger.exception("%s: %s", name, poll.error)
            return
        engine = context.engine(self.settings["NEWSWATCH_STORAGE_URL"])
        canonicals = {lead.canonical for lead in leads if lead.problem is None}
        known = articles.known_urls(engine, canonicals)
        pending = articles.pending_pages(engine, known)  # stored from the index alone: fetch the page again
        self.crawler.stats.inc_value("newswatch/known", len(known - pending))
        seen: set[str] = set()
        for lead in leads:
            if lead.problem is not None:
                poll.expected += 1
                self._article_failed(name, lead.problem)
                continue
            if (lead.canonical in known and lead.canonical not in pending) or lead.canonical in seen:
                continue
            seen.add(lead.canonical)
            poll.expected += 1
            completing = lead.canonical in pending
            if lead.item is not None:
                lead.item.completing = completing
                yield lead.item
            elif (request := self._article_request(name, lead, completing)) is not None:
                yield request

    def _article_request(self, name: str, lead: Lead, completing: bool) -> scrapy.Request | None:
        """The request for a lead's page; None (and one failed article) when its link is refused."""
        refusal = context.fetch_policy(self.settings["NEWSWATCH_CONFIG"]).check(lead.url).refusal
        if refusal is None:
            try:
                return scrapy.Request(
                    lead.url,
                    callback=self.parse_article,
                    errback=self.article_failed,
                    meta={
                        "source": name,
                        "canonical": lead.canonical,
                        "lead": lead.data,
                        "teaser": lead.teaser,
                        "completing": completing,
                    },
                )
            except ValueError as exc:  # what Scrapy cannot even make a request of
                refusal = f"refused: an unusable link ({exc})"
        self._article_failed(name, f"{refusal} ({lead.url[:200]})")
        return None

    def index_failed(self, failure: Failure) -> None:
        name = failure.request.meta["source"]
        self.polls[name].answered = True
        self.polls[name].error = describe_failure(failure, self.settings)
        self.logger.warning("%s: %s", name, self.polls[name].error)

    # --- articles: each one the index led to ends in exactly one of the handlers below -----------------

    def parse_article(self, response: Response) -> Iterator[ArticleItem]:
        name = response.meta["source"]
        try:
            item = self.readers[name].article(response, response.meta.get("lead"))
        except Exception as exc:  # counted like a failed download, so the next poll tries again
            self.logger.exception("%s: article failed", name)
            yield from self._page_failed(
                response.meta, f"cannot read {response.url}: {type(exc).__name__}: {exc}"
            )
            return
        if item is None:
            self.polls[name].settled += 1
            return
        item.completing = response.meta.get("completing", False)
        yield item  # settled when the pipelines are done with it: item_done / item_failed

    def article_failed(self, failure: Failure) -> Iterator[ArticleItem]:
        reason = describe_failure(failure, self.settings)
        if failure.check(FetchRefused):  # the link itself is forbidden: nothing of it is kept
            self._article_failed(failure.request.meta["source"], reason)
            return
        yield from self._page_failed(failure.request.meta, reason)

    def _page_failed(self, meta: dict[str, Any], reason: str) -> Iterator[ArticleItem]:
        """A page that could not be fetched or read: a failed article, and its teaser stored (unless
        it was stored before), settled when the pipelines are done with it."""
        name, teaser = meta["source"], meta.get("teaser")
        if teaser is None or meta.get("completing"):
            self._article_failed(name, reason)
            return
        self.polls[name].article_failures.append(reason)
        self.logger.warning("%s: article failed, stored from the feed alone: %s", name, reason)
        teaser.page_missing = True
        yield teaser

    def item_done(self, item: Any) -> None:
        """Stored, already known, or dropped (no title): nothing to retry."""
        if isinstance(item, ArticleItem) and item.source in self.polls:
            self.polls[item.source].settled += 1

    def item_failed(self, item: Any, failure: Failure) -> None:
        """A pipeline raised (the store was unavailable...): retried on the next poll."""
        if isinstance(item, ArticleItem) and item.source in self.polls:
            self._article_failed(item.source, f"cannot store {item.url}: {failure.getErrorMessage()}")

    def request_dropped(self, request: scrapy.Request) -> None:
        """The scheduler refused a request: a page another source of this crawl already asked for."""
        name = request.meta.get("source")
        if name in self.polls and "canonical" in request.meta:
            self.polls[name].settled += 1

    def _article_failed(self, name: str, reason: str) -> None:
        poll = self.polls[name]
        poll.settled += 1
        poll.article_failures.append(reason)
        self.logger.warning("%s: article failed: %s", name, reason)


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def describe_failure(failure: Failure, settings: BaseSettings | None = None) -> str:
    """One line an operator understands, for ``newswatch sources`` and the crawl summary."""
    request = getattr(failure, "request", None)
    url = request.url if request is not None else ""
    if failure.check(HttpError):
        response = failure.value.response
        return f"HTTP {response.status} from {response.url}"
    if (
        failure.check(TwistedTimeoutError)
        or "timeout" in type(failure.value).__name__.lower()
        or "took longer than" in str(failure.value)
    ):
        after = f" after {settings.getfloat('DOWNLOAD_TIMEOUT'):g} s" if settings else ""
        return f"timed out{after} fetching {url}"
    if failure.check(DownloadCancelledError, CancelledError):
        # Scrapy cancels a download in a crawl for one reason: the body outgrew DOWNLOAD_MAXSIZE, either
        # by its Content-Length ("... larger than download max size") or while streaming (no message).
        message = str(failure.value)
        if not message.strip() or "max size" in message:
            limit = f" ({settings.getint('DOWNLOAD_MAXSIZE')} bytes)" if settings else ""
            return f"response larger than crawl.max_bytes{limit} from {url}"
    message = str(failure.value).strip() or type(failure.value).__name__
    return f"{message} ({url})" if url and url not in message else message
