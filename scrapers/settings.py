"""Scrapy settings, in one place. ``scrapy crawl <source>`` reads this module (see scrapy.cfg);
``crawl_settings`` overlays what config.toml says about politeness and storage."""

from __future__ import annotations

import os

from scrapy.settings import default_settings as _scrapy_defaults

from newswatch.config import CONFIG_ENV, DEFAULT_CONFIG, Config

BOT_NAME = "newswatch"
SPIDER_LOADER_CLASS = "scrapers.loader.ConfigSpiderLoader"
SPIDER_MODULES: list[str] = []
NEWSWATCH_CONFIG = os.path.abspath(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)

# Feeds are made to be polled: we do not fetch robots.txt before each poll, but we name ourselves,
# poll at the configured interval, send conditional requests and keep per-site concurrency low.
ROBOTSTXT_OBEY = False
USER_AGENT = "newswatch/0.1 (+https://github.com/newswatch/newswatch; news alert bot)"
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy imports every component its *_BASE settings name, a disabled one too (it loads each key to
# find duplicates): the remote-control extension alone imports aiohttp, 170 ms of CPU and 24 MB in
# every crawl process. What we never run is left out of the base lists, so it is never imported.
_NEVER = ("RemoteControl", "TelnetConsole", "CookiesMiddleware")
EXTENSIONS_BASE = {k: v for k, v in _scrapy_defaults.EXTENSIONS_BASE.items() if not k.endswith(_NEVER)}
DOWNLOADER_MIDDLEWARES_BASE = {
    k: v for k, v in _scrapy_defaults.DOWNLOADER_MIDDLEWARES_BASE.items() if not k.endswith(_NEVER)
}
CONCURRENT_REQUESTS = 32  # one spider polls every source of a crawl: this is the total
CONCURRENT_REQUESTS_PER_DOMAIN = 2
# Our pipelines are synchronous and CPU-bound; Scrapy starts CONCURRENT_ITEMS asyncio tasks for every
# callback's output, so its default of 100 only costs task churn (400k tasks for a 4000-page poll).
CONCURRENT_ITEMS = 8
DOWNLOAD_TIMEOUT = 20
DOWNLOAD_MAXSIZE = 5_000_000
DOWNLOAD_WARNSIZE = 0
REDIRECT_MAX_TIMES = 5
RETRY_TIMES = 2
LOG_LEVEL = "INFO"
# Scrapy re-reads and parses each callback's source for every response to warn about `return value`
# in generators (its cache is keyed on bound methods, which never survive): ~1 ms per response.
WARN_ON_GENERATOR_RETURN_VALUE = False

# Only http(s): a feed's file://, ftp://, data: or s3:// link must never be read (see scrapers.fetchguard).
DOWNLOAD_HANDLERS = {"file": None, "data": None, "ftp": None, "s3": None}
# The address rules: a middleware before all others sees every request and redirect hop, and the
# resolver sees every name the downloader connects to (see scrapers.middlewares, scrapers.resolver).
TWISTED_DNS_RESOLVER = "scrapers.resolver.GuardedResolver"

DOWNLOADER_MIDDLEWARES = {
    "scrapers.middlewares.FetchGuardMiddleware": 10,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "scrapers.middlewares.BackoffRetryMiddleware": 550,
    "scrapers.middlewares.ConditionalGetMiddleware": 560,
}
ITEM_PIPELINES = {
    "scrapers.pipelines.NormalizePipeline": 100,
    "scrapers.pipelines.DetectPipeline": 200,
    "scrapers.pipelines.StorePipeline": 300,
    "scrapers.pipelines.SourceStatePipeline": 900,
}


def crawl_settings(config: Config) -> dict[str, object]:
    crawl = config.crawl
    return {
        "NEWSWATCH_CONFIG": str(config.path.resolve()),
        "NEWSWATCH_STORAGE_URL": config.storage_url,
        "USER_AGENT": crawl.user_agent,
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "RETRY_TIMES": crawl.retries,
        "DOWNLOAD_MAXSIZE": crawl.max_bytes,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
    }
