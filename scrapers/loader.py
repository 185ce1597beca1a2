"""A Scrapy spider loader that makes one spider per configured source, named after it.

This is what lets ``scrapy crawl ithome`` (or any source name in config.toml) work like a spider
written by hand.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from scrapy import Request
from scrapy.settings import BaseSettings

from newswatch.config import Config, ConfigError, SourceConfig

from . import context
from .settings import crawl_settings
from .spiders.base import NewsSpider, Reader
from .spiders.feed import FeedReader
from .spiders.ithome import IthomeReader

READERS: dict[str, type[Reader]] = {"ithome": IthomeReader, "rss": FeedReader}


def spider_class(
    config: Config, sources: Sequence[SourceConfig], name: str | None = None
) -> type[NewsSpider]:
    """The spider polling ``sources``; named after the source when there is one."""
    name = name or (sources[0].name if len(sources) == 1 else "newswatch")
    return type(
        f"NewsSpider_{name.replace('-', '_')}",
        (NewsSpider,),
        {
            "name": name,
            "sources": tuple(sources),
            "readers_by_kind": READERS,
            "max_articles": config.crawl.max_articles_per_poll,
            "custom_settings": crawl_settings(config),
        },
    )


class ConfigSpiderLoader:
    def __init__(self, settings: BaseSettings):
        try:
            self.config = context.load_config(settings["NEWSWATCH_CONFIG"])
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        self._spiders = {s.name: spider_class(self.config, [s]) for s in self.config.sources}

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> ConfigSpiderLoader:
        return cls(settings)

    def load(self, spider_name: str) -> type[NewsSpider]:
        try:
            return self._spiders[spider_name]
        except KeyError:
            raise KeyError(
                f"Spider not found: {spider_name} (sources in {self.config.path}: "
                f"{', '.join(self._spiders) or 'none'})"
            ) from None

    def list(self) -> list[str]:
        return list(self._spiders)

    def find_by_request(self, request: Request) -> list[str]:
        return [name for name, cls in self._spiders.items() if request.url.startswith(cls.sources[0].url)]
