"""Running crawls in this process: one crawl for ``newswatch crawl`` (and one fetch for ``newswatch
sources check``), or one after another for a long-lived crawl worker (``scrapers.worker``). All build
the same spider with the same settings, the same guarded DNS resolver, and report each source's
outcome the same way."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from scrapy.crawler import AsyncCrawlerRunner, Crawler, CrawlerProcess
from scrapy.settings import Settings
from scrapy.utils.misc import build_from_crawler, load_object

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


def crawler_process(config: Config, log_level: str = "WARNING") -> CrawlerProcess:
    """A Scrapy process with the project's settings and what config.toml says of the crawl: every
    command that fetches (``crawl``, ``sources check``) goes through the same middlewares and limits;
    the process installs the guarded resolver when it starts its reactor."""
    process = CrawlerProcess(crawl_settings(config, log_level))
    logging.getLogger("scrapy").setLevel(log_level)
    return process


def install_resolver(runner: AsyncCrawlerRunner) -> None:
    """The crawl's guarded DNS resolver (``TWISTED_DNS_RESOLVER``) on a reactor a worker started
    itself: ``CrawlerProcess`` does this when it starts one, a runner does not, and without it the
    address rules would be checked before a download but not when it connects (DNS rebinding)."""
    from twisted.internet import reactor

    resolver_class = load_object(runner.settings["TWISTED_DNS_RESOLVER"])
    build_from_crawler(resolver_class, runner, reactor=reactor).install_on_reactor()


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
    process = crawler_process(config, log_level)
    crawler = process.create_crawler(batch_spider(config, names))
    process.crawl(crawler)
    process.start()
    return report(crawler, names)
