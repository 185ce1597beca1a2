"""Running crawls in this process, for ``newswatch crawl`` and ``newswatch sources check`` (the service
runs ``crawl`` in a subprocess per poll: a Twisted reactor cannot be restarted, and a crash or a leak
stays contained)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from newswatch.config import Config

from . import settings as default_settings
from .loader import spider_class


@dataclass
class CrawlReport:
    new: int = 0
    known: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # source -> reason


def crawler_process(config: Config, log_level: str) -> CrawlerProcess:
    """A Scrapy process with the project's settings and what config.toml says of the crawl: every
    command that fetches (``crawl``, ``sources check``) goes through the same middlewares and limits."""
    settings = Settings()
    settings.setmodule(default_settings, priority="project")
    settings.setdict({**default_settings.crawl_settings(config), "LOG_LEVEL": log_level}, priority="cmdline")
    process = CrawlerProcess(settings)
    logging.getLogger("scrapy").setLevel(log_level)
    return process


def crawl(config: Config, names: list[str], log_level: str = "WARNING") -> CrawlReport:
    """Poll the named sources in one spider (one engine, one downloader) and report how it went."""
    process = crawler_process(config, log_level)
    crawler = process.create_crawler(
        spider_class(config, [config.source(name) for name in names], name="newswatch")
    )
    process.crawl(crawler)
    process.start()
    report = CrawlReport(
        new=crawler.stats.get_value("newswatch/new", 0), known=crawler.stats.get_value("newswatch/known", 0)
    )
    spider = crawler.spider
    for name in names:
        poll = spider.polls.get(name) if spider is not None else None
        if poll is None:
            report.failed[name] = "the crawl did not start (see the log above)"
        elif poll.error:
            report.failed[name] = poll.error
    return report
