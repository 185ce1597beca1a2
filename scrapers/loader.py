"""A Scrapy spider loader that makes one spider per configured source, named after it.

This is what lets ``scrapy crawl ithome`` (or any source name in config.toml) work like a spider
written by hand.
"""

from __future__ import annotations

import sys

from scrapy import Request
from scrapy.settings import BaseSettings

from newswatch.config import Config, ConfigError, SourceConfig

from . import context
from .settings import crawl_settings
from .spiders.base import SourceSpider
from .spiders.feed import FeedSpider
from .spiders.ithome import IthomeSpider

SPIDER_KINDS: dict[str, type[SourceSpider]] = {"ithome": IthomeSpider, "rss": FeedSpider}


def spider_class(config: Config, source: SourceConfig) -> type[SourceSpider]:
    base = SPIDER_KINDS[source.kind]
    return type(f"{base.__name__}_{source.name}", (base,), {
        "name": source.name,
        "source": source,
        "max_articles": config.crawl.max_articles_per_poll,
        "custom_settings": crawl_settings(config),
    })


class ConfigSpiderLoader:
    def __init__(self, settings: BaseSettings):
        try:
            self.config = context.load_config(settings["NEWSWATCH_CONFIG"])
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        self._spiders = {s.name: spider_class(self.config, s) for s in self.config.sources}

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> ConfigSpiderLoader:
        return cls(settings)

    def load(self, spider_name: str) -> type[SourceSpider]:
        try:
            return self._spiders[spider_name]
        except KeyError:
            raise KeyError(f"Spider not found: {spider_name} (sources in {self.config.path}: "
                           f"{', '.join(self._spiders) or 'none'})") from None

    def list(self) -> list[str]:
        return list(self._spiders)

    def find_by_request(self, request: Request) -> list[str]:
        return [name for name, cls in self._spiders.items() if request.url.startswith(cls.source.url)]
