"""Item pipelines, in order: normalize -> detect -> store; and each source's poll state at close."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from newswatch.models import Article
from newswatch.storage import articles, sources

from . import context
from .items import ArticleItem
from .normalize import clean_line, clean_text, clean_url, detect_lang, summarize


class _Stage:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler):
        return cls(crawler)

    @property
    def engine(self):
        return context.engine(self.crawler.settings["NEWSWATCH_STORAGE_URL"])


class NormalizePipeline(_Stage):
    """Clean text and links, decide the language, write a summary; drop what has no title."""

    def process_item(self, item: ArticleItem) -> ArticleItem:
        item.title = clean_line(item.title)
        item.body = clean_text(item.body)
        item.author = clean_line(item.author)
        item.canonical, item.link, item.image = map(clean_url, (item.canonical, item.link, item.image))
        if not item.title:
            raise DropItem(f"no title: {item.url}")
        item.summary = clean_line(item.summary) or summarize(item.body)
        item.lang = detect_lang(f"{item.title}\n{item.body[:1000]}", item.lang)
        return item


class DetectPipeline(_Stage):
    """Relevance, tags, watched keywords and story keys."""

    def process_item(self, item: ArticleItem) -> ArticleItem:
        detector = context.detector(self.crawler.settings["NEWSWATCH_CONFIG"])
        item.detection, item.keys = detector.analyze(item.title, item.body, item.published)
        return item


class StorePipeline(_Stage):
    """Save the article and join or start its story; or fill in one stored from its feed alone.

    New articles are stored in batches: each waits (``GATHER`` seconds at most, while the others of
    its poll and of the polls around it are normalized and detected) for the batch it is in to be
    stored in one transaction, and only then is it done. So an article counts as settled for its
    source's validators only once it is in the store, as when each had a transaction of its own, and
    one that the store refuses fails alone (``articles.save_many`` falls back to one at a time)."""

    BATCH = 200  # articles in one transaction at most
    GATHER = 0.01  # seconds the first article of a batch waits for more

    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self._pending: list[tuple[articles.NewArticle, asyncio.Future[articles.Saved | None]]] = []
        self._timer: asyncio.TimerHandle | None = None

    async def process_item(self, item: ArticleItem) -> ArticleItem:
        assert item.detection is not None and item.keys is not None
        article = Article(
            source=item.source,
            url=item.canonical,
            title=item.title,
            body=item.body,
            summary=item.summary,
            lang=item.lang or "en",
            published=item.published,
            fetched=datetime.now(UTC),
            author=item.author,
            image=item.image,
            link="" if item.link == item.canonical else item.link,
            page_missing=item.page_missing,
        )
        if item.completing:
            if articles.fill_in_page(self.engine, article, item.detection, item.keys):
                self.crawler.stats.inc_value("newswatch/filled_in")
            return item
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[articles.Saved | None] = loop.create_future()
        self._pending.append((articles.NewArticle(article, item.detection, item.keys), stored))
        if len(self._pending) >= self.BATCH:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.GATHER, self._flush)
        saved = await stored  # raises what kept this article out of the store
        self.crawler.stats.inc_value("newswatch/new" if saved else "newswatch/known")
        return item

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        try:
            results = articles.save_many(self.engine, [new for new, _ in batch])
        except Exception as exc:  # the store itself is unavailable: every article of the batch fails
            results = [exc] * len(batch)
        for (_, stored), result in zip(batch, results, strict=True):
            if stored.done():  # cancelled: the crawl is being stopped
                continue
            if isinstance(result, Exception):
                stored.set_exception(result)
            else:
                stored.set_result(result)


class SourceStatePipeline(_Stage):
    """At the end of a poll, record it on each source: validators on success, the reason on failure.

    New validators are kept only when every article of the poll was dealt with: otherwise the next
    poll would get a 304 and never retry the article that failed, or that a stopped crawl never got to.
    """

    def close_spider(self) -> None:
        polls = []
        for name, outcome in self.crawler.spider.polls.items():
            if not outcome.answered and not outcome.error:
                outcome.error = "no response: the crawl stopped before the source was polled"
            if outcome.error:
                polls.append(sources.Poll(name, outcome.error))
            elif outcome.not_modified:
                polls.append(sources.Poll(name, keep_validators=True))
            elif outcome.complete:
                polls.append(sources.Poll(name, etag=outcome.etag, last_modified=outcome.last_modified))
            else:  # some article failed or never finished: no validators, so the next poll sees it again
                polls.append(sources.Poll(name, article_failures=tuple(outcome.article_failures)))
        sources.record(self.engine, polls)
