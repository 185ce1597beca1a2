"""``newswatch sources check URL``: fetch one URL the way a poll would, and say what it is.

Operators run it before they add a source. It runs one Scrapy crawl in this process (a CLI command:
the reactor starts once) with the crawl's own settings (``runner.crawler_process``: the project's
middlewares, user agent, timeouts, size cap, retries and address rules, plus what config.toml says of
them), reads the body with the reader the source's kind would use (``feeds`` for a feed, ``ithome``
for an ITHome list page), and asks the detector about the newest entries using the feed's own text:
no article page is fetched. When the answer carries ETag or Last-Modified, one more request with
If-None-Match / If-Modified-Since tells whether polls of this source will cost a 304.

It never touches the store: its spider has no item pipelines and asks for no stored validators.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import scrapy
from feedparser.api import SUPPORTED_VERSIONS
from parsel import Selector
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from newswatch.config import Config
from newswatch.detect.pipeline import Detector
from newswatch.models import Detection

from . import feeds, ithome
from .normalize import html_to_text
from .runner import crawler_process
from .spiders.base import describe_failure
from .spiders.feed import response_headers

_ALTERNATE_FEEDS = (
    'link[rel~="alternate"][type*="rss"]::attr(href), link[rel~="alternate"][type*="atom"]::attr(href)'
)


@dataclass(frozen=True)
class Answer:
    """The HTTP side of one response."""

    status: int
    url: str  # after redirects
    redirects: tuple[str, ...]  # the URLs that redirected, in order
    content_type: str
    etag: str | None
    last_modified: str | None

    @classmethod
    def of(cls, response: Response) -> Answer:
        def header(name: bytes) -> str | None:
            value = response.headers.get(name)
            return value.decode("latin-1") if value else None

        return cls(
            status=response.status,
            url=response.url,
            redirects=tuple(response.meta.get("redirect_urls", ())),
            content_type=header(b"Content-Type") or "",
            etag=header(b"ETag"),
            last_modified=header(b"Last-Modified"),
        )


@dataclass(frozen=True)
class Verdict:
    """One of the newest entries and what the detector says of its title and feed text."""

    title: str
    link: str
    published: datetime | None
    detection: Detection


@dataclass
class Check:
    """Everything ``sources check`` found; ``usable`` is whether a poll would read entries from it."""

    url: str
    kind: str
    answer: Answer | None = None
    failure: str | None = None  # the request got no HTTP answer at all (timeout, refused, too large...)
    declared_charset: str | None = None
    charset: str | None = None  # what the body was read as
    reading: str = ""  # "RSS 2.0 (rss20)", "an ITHome list page", or why it is not a feed
    parsed: bool = False  # read as a feed or a list page: entries and dates below mean something
    problem: str | None = None  # why a poll would fail on it
    entries: int = 0
    promotions: int = 0  # ITHome promotions the ITHome reader leaves out
    dates: list[datetime] = field(default_factory=list)  # entries' publication times, newest first
    undated: int = 0
    newest: list[Verdict] = field(default_factory=list)
    basis: str = ""  # what the detector was given: the feed's own text, or titles only
    alternates: list[str] = field(default_factory=list)  # feeds an HTML page links to
    revalidation: Answer | None = None  # the conditional re-request's answer, when one was made
    revalidation_failure: str | None = None

    @property
    def usable(self) -> bool:
        return self.answer is not None and self.problem is None

    @property
    def revalidated(self) -> bool:
        """A conditional re-request was made: the first answer carried a validator."""
        return self.revalidation is not None or self.revalidation_failure is not None


class CheckSpider(scrapy.Spider):
    """Fetches the URL, then once more with its validators when it has any; keeps the responses."""

    name = "newswatch-check"
    custom_settings: ClassVar[dict[str, Any]] = {"ITEM_PIPELINES": {}}  # nothing stored, no poll state

    def __init__(self, url: str, **kwargs: object):
        super().__init__(**kwargs)
        self.url = url
        self.response: Response | None = None
        self.failure: str | None = None
        self.revalidation: Response | None = None
        self.revalidation_failure: str | None = None

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield scrapy.Request(self.url, callback=self.answered, errback=self.failed, dont_filter=True)

    def answered(self, response: Response) -> Iterator[scrapy.Request]:
        self.response = response
        validators = {
            header: value
            for header, value in (
                ("If-None-Match", response.headers.get(b"ETag")),
                ("If-Modified-Since", response.headers.get(b"Last-Modified")),
            )
            if value
        }
        if validators:  # the same request a poll of an unchanged source sends
            yield scrapy.Request(
                self.url,
                headers=validators,
                callback=self.revalidated,
                errback=self.revalidation_failed,
                dont_filter=True,
                meta={"handle_httpstatus_list": [304]},
            )

    def failed(self, failure: Failure) -> None:
        if failure.check(HttpError):
            self.response = failure.value.response
        else:
            self.failure = describe_failure(failure, self.settings)

    def revalidated(self, response: Response) -> None:
        self.revalidation = response

    def revalidation_failed(self, failure: Failure) -> None:
        if failure.check(HttpError):
            self.revalidation = failure.value.response
        else:
            self.revalidation_failure = describe_failure(failure, self.settings)


def check(config: Config, url: str, kind: str, newest: int = 5, log_level: str = "ERROR") -> Check:
    """Fetch ``url`` with the crawl settings of ``config`` and read it as a source of ``kind`` would be."""
    detector = Detector.from_config(config)  # a bad [vocabulary] fails before anything is fetched
    process = crawler_process(config, log_level)
    crawler = process.create_crawler(CheckSpider)
    process.crawl(crawler, url=url)
    process.start()
    spider = crawler.spider
    assert isinstance(spider, CheckSpider)
    result = Check(url, kind, failure=spider.failure, revalidation_failure=spider.revalidation_failure)
    if spider.revalidation is not None:
        result.revalidation = Answer.of(spider.revalidation)
    if spider.response is None:
        result.problem = spider.failure or "no answer"
        return result
    result.answer = Answer.of(spider.response)
    _read(result, spider.response, detector, newest)
    return result


def _read(result: Check, response: Response, detector: Detector, newest: int) -> None:
    """What a poll of a ``result.kind`` source would make of the response."""
    content_type = result.answer.content_type if result.answer else ""
    result.declared_charset = feeds.declared_charset(response.body, content_type)
    if response.status != 200:
        result.problem = f"HTTP {response.status}"
        return
    if result.kind == "ithome" and "html" in content_type.lower():
        _read_ithome_list(result, response, detector, newest)
        return
    try:
        feed = feeds.parse(response.body, response_headers(response), response.url)
    except feeds.FeedError as exc:
        result.reading = result.problem = str(exc)
        if isinstance(response, TextResponse):
            result.charset = response.encoding
            selector = Selector(text=response.text)
            result.alternates = [response.urljoin(href) for href in selector.css(_ALTERNATE_FEEDS).getall()]
        return
    result.charset = feed.encoding
    result.parsed = True
    result.reading = f"{SUPPORTED_VERSIONS.get(feed.version, 'unknown')} ({feed.version or '?'})"
    entries = feed.entries
    if result.kind == "ithome":
        entries = [e for e in feed.entries if not ithome.is_promotion(e.link, e.title)]
        result.promotions = len(feed.entries) - len(entries)
    result.entries = len(entries)
    if not entries:
        result.problem = "the feed has no entries"
    result.dates = sorted((e.published for e in entries if e.published), reverse=True)
    result.undated = len(entries) - len(result.dates)
    result.basis = "the feed's own text (no article page fetched)"
    by_date = sorted(entries, key=lambda e: e.published or datetime.min.replace(tzinfo=UTC), reverse=True)
    for entry in by_date[:newest]:
        text = html_to_text(entry.content_html or entry.summary_html)
        detection, _keys = detector.analyze(entry.title, text)
        result.newest.append(Verdict(entry.title, response.urljoin(entry.link), entry.published, detection))


def _read_ithome_list(result: Check, response: Response, detector: Detector, newest: int) -> None:
    """ITHome's /list/ or a /tag/ page, read as the ITHome reader reads it: links and titles."""
    assert isinstance(response, TextResponse)
    result.charset = response.encoding
    result.parsed = True
    result.reading = "an ITHome list page (links and titles; dates come from the article pages)"
    result.basis = "titles only (no article page fetched)"
    links = ithome.list_links(Selector(text=response.text))
    result.entries = result.undated = len(links)
    if not links:
        result.problem = "no article links (page layout changed?)"
    for href, title in links[:newest]:  # the page lists the newest first
        detection, _keys = detector.analyze(title, "")
        result.newest.append(Verdict(title, response.urljoin(href), None, detection))
