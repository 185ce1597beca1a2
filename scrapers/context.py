"""Process-wide resources a crawl shares: the config, the store engine, the detector, the address rules."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from newswatch import config as cfg
from newswatch.storage import connect

from .fetchguard import FetchPolicy

if TYPE_CHECKING:
    from newswatch.detect.pipeline import Detector


@lru_cache(maxsize=4)
def load_config(path: str) -> cfg.Config:
    """The config as the crawl side sees it: without the bot token, which it never needs."""
    config = cfg.load(path)
    return replace(config, telegram=replace(config.telegram, token=""))


@lru_cache(maxsize=4)
def engine(url: str) -> Engine:
    return connect(url)


@lru_cache(maxsize=4)
def detector(path: str) -> Detector:
    """Imported and built at the first article a crawl analyzes: a poll with nothing new never
    pays for it."""
    from newswatch.detect.pipeline import Detector

    return Detector.from_config(load_config(path))


@lru_cache(maxsize=4)
def fetch_policy(path: str) -> FetchPolicy:
    """The address rules for the config at ``path``: every source's origin is the operator's choice."""
    config = load_config(path)
    return FetchPolicy((s.url for s in config.sources), allow_private=config.crawl.allow_private)
