"""Running crawls in this process: one crawl for ``newswatch crawl``, or one after another for a
long-lived crawl worker (``scrapers.worker``). Both build the same spider with the same settings and
report each source's outcome the same way."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings

from newswatch.config import Config

from . import settings as default_settings
from .loader import spider_class


@dataclass
class CrawlReport:
    new: int = 0
    known: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # source -> reason

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def crawl_settings(config: Config, log_level: str = "WARNING") -> Settings:
    settings = Settings()
    settings.setmodule(default_settings, priority="project")
    settings.setdict({**default_settings.crawl_settings(config), "LOG_LEVEL": log_level}, priority="cmdline")
    return settings


def batch_spider(config: Config, names: list[str]) -> type:
    """One spider polling every named source (one engine, one downloader)."""
    return spider_class(config, [config.source(name) for name in names], name="newswatch")


def report(crawler: Crawler, names: list[str]) -> CrawlReport:
    """What a finished crawl did: counts, and the reason of each source that failed."""
    result = CrawlReport(
        new=crawler.stats.get_value("newswatch/new", 0), known=crawler.stats.get_value("newswatch/known", 0)
    )
    spider = crawler.spider
    for name in names:
        poll = spider.polls.get(name) if spider is not None else None
        if poll is None:
            result.failed[name] = "the crawl did not start (see the log above)"
        elif poll.error:
            result.failed[name] = poll.error
    return result


def crawl(config: Config, names: list[str], log_level: str = "WARNING") -> CrawlReport:
    """Poll the named sources in one spider, starting and stopping a reactor: once per process."""
    process = CrawlerProcess(crawl_settings(config, log_level))
    logging.getLogger("scrapy").setLevel(log_level)
    crawler = process.create_crawler(batch_spider(config, names))
    process.crawl(crawler)
    process.start()
    return report(crawler, names)
