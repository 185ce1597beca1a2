"""Item pipelines, in order: normalize -> detect -> store; and each source's poll state at close."""

from __future__ import annotations

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
    """Save the article and join or start its story; or fill in one stored from its feed alone."""

    def process_item(self, item: ArticleItem) -> ArticleItem:
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
        saved = articles.save(self.engine, article, item.detection, item.keys)
        self.crawler.stats.inc_value("newswatch/new" if saved else "newswatch/known")
        return item


class SourceStatePipeline(_Stage):
    """At the end of a poll, record it on each source: validators on success, the reason on failure.

    New validators are kept only when every article of the poll was dealt with: otherwise the next
    poll would get a 304 and never retry the article that failed, or that a stopped crawl never got to.
    """

    def close_spider(self) -> None:
        for name, outcome in self.crawler.spider.polls.items():
            if not outcome.answered and not outcome.error:
                outcome.error = "no response: the crawl stopped before the source was polled"
            if outcome.error:
                sources.record_failure(self.engine, name, outcome.error)
            elif outcome.not_modified:
                sources.record_success(self.engine, name, None, None, keep_validators=True)
            elif outcome.complete:
                sources.record_success(self.engine, name, outcome.etag, outcome.last_modified)
            else:  # some article failed or never finished: no validators, so the next poll sees it again
                sources.record_success(
                    self.engine, name, None, None, article_failures=outcome.article_failures
                )
