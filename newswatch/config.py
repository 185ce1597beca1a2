"""Load and validate ``config.toml``.

Every mistake an operator can make in the file is reported as one :class:`ConfigError` line naming the
file, the key and what is wrong, so the CLI can exit with status 2 instead of a traceback. Unknown keys
are errors too: a misspelled ``intervall`` silently ignored is worse than a refusal.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_CONFIG = "config.toml"
CONFIG_ENV = "NEWSWATCH_CONFIG"
TOKEN_ENV = "NEWSWATCH_TELEGRAM_TOKEN"
SOURCE_KINDS = ("ithome", "rss")
NAME_RE = re.compile(r"^[a-z0-9_-]+$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*$", re.I)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
MIN_POLITE_INTERVAL = 60.0


class ConfigError(ValueError):
    """A config file problem, already phrased for the operator: ``file: key: what is wrong``."""


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str
    url: str
    interval: float = 300.0
    enabled: bool = True
    lang: str | None = None  # a hint; detected from the text when absent


@dataclass(frozen=True)
class CrawlConfig:
    user_agent: str = "newswatch/0.1 (+https://github.com/newswatch/newswatch; news alert bot)"
    timeout: float = 20.0
    retries: int = 2
    max_bytes: int = 5_000_000
    concurrency_per_domain: int = 2
    max_articles_per_poll: int = 60
    max_parallel_crawls: int = 2  # crawls in flight at once, spread over the workers
    workers: int = 1  # crawl worker processes (each one more copy of Scrapy and the detector in memory)
    worker_max_crawls: int = 500  # a worker is replaced after this many batches (returns its memory)
    batch_timeout: float = 600.0  # a worker that has not answered a batch by then is killed
    allow_private: bool = False  # fetch article links on private/loopback addresses (intranet hosts)
    max_memory: int = 512 * 1024**2  # bytes; a crawl process growing past it is killed


@dataclass(frozen=True)
class WatchConfig:
    keywords: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class TelegramConfig:
    token: str = ""
    api_base_url: str = "https://api.telegram.org/bot"
    admins: tuple[int, ...] = ()


@dataclass(frozen=True)
class AlertsConfig:
    max_age: float = 48 * 3600.0  # older articles are stored but never alerted
    delivery_interval: float = 2.0


@dataclass(frozen=True)
class Config:
    path: Path
    storage_url: str
    sources: tuple[SourceConfig, ...]
    crawl: CrawlConfig = field(default_factory=CrawlConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    vocabulary: dict[str, Any] = field(default_factory=dict)

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(f"{self.path}: no source named {name!r} (configured: {known})")


def parse_duration(value: object) -> float:
    """Seconds from ``120``, ``"90s"``, ``"5m"``, ``"1h"`` or ``"2d"``; ValueError when not positive."""
    if isinstance(value, bool):
        raise ValueError("not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError("not a duration")
    if not math.isfinite(seconds) or seconds <= 0:  # TOML has nan and inf floats
        raise ValueError("not positive")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from ``536870912``, ``"512MB"``, ``"512M"`` or ``"1GB"`` (binary units); ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("not a size")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (m := _SIZE_RE.match(value)):
        size = int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    else:
        raise ValueError("not a size")
    if size <= 0:
        raise ValueError("not positive")
    return size


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    """The config path from the command line, else ``$NEWSWATCH_CONFIG``, else ``./config.toml``."""
    return Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load(path: str | os.PathLike[str] | None = None) -> Config:
    cfg_path = resolve_path(path)
    try:
        raw = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{cfg_path}: file not found (use --config PATH or set {CONFIG_ENV})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{cfg_path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{cfg_path}: TOML syntax error: {exc}") from None
    return _Parser(cfg_path).config(raw)


class _Parser:
    """Walks the raw TOML tables, checking each key against what the section accepts."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {problem}")

    def table(self, raw: dict[str, Any], key: str, allowed: set[str]) -> dict[str, Any]:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        for name in value:
            if name not in allowed:
                raise self.fail(f"{key}.{name}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return value

    def typed(self, section: dict[str, Any], key: str, label: str, kind: type | tuple[type, ...], default):
        value = section.get(key, default)
        if isinstance(value, bool) and kind is not bool:
            raise self.fail(label, f"must be {_kind_name(kind)}, not a boolean")
        if not isinstance(value, kind):
            raise self.fail(label, f"must be {_kind_name(kind)} (got {value!r})")
        return value

    def duration(self, section: dict[str, Any], key: str, label: str, default: float) -> float:
        if key not in section:
            return default
        try:
            return parse_duration(section[key])
        except ValueError:
            raise self.fail(
                label, f'must be a positive duration like 120, "90s", "5m" or "1h" (got {section[key]!r})'
            ) from None

    def config(self, raw: dict[str, Any]) -> Config:
        top = {"storage", "sources", "crawl", "watch", "telegram", "alerts", "vocabulary"}
        for key in raw:
            if key not in top:
                raise self.fail(key, f"unknown section (allowed: {', '.join(sorted(top))})")
        return Config(
            path=self.path,
            storage_url=self.storage(raw),
            sources=self.sources(raw),
            crawl=self.crawl(raw),
            watch=self.watch(raw),
            telegram=self.telegram(raw),
            alerts=self.alerts(raw),
            vocabulary=self.table(
                raw, "vocabulary", {"providers", "services", "regions", "places", "actions", "ignore"}
            ),
        )

    def storage(self, raw: dict[str, Any]) -> str:
        section = self.table(raw, "storage", {"url"})
        url = self.typed(section, "url", "storage.url", str, "sqlite:///data/newswatch.db")
        if "://" not in url:
            raise self.fail(
                "storage.url",
                f'must be an SQLAlchemy URL such as "sqlite:///data/newswatch.db" (got {url!r})',
            )
        from sqlalchemy.engine import make_url  # here: most commands load the config before the store
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            make_url(url).get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise self.fail("storage.url", f"not a database URL SQLAlchemy can open ({exc})") from None
        return _anchor_sqlite_path(url, self.path.parent)

    def sources(self, raw: dict[str, Any]) -> tuple[SourceConfig, ...]:
        entries = raw.get("sources", [])
        if not isinstance(entries, list):
            raise self.fail("sources", "must be an array of tables ([[sources]])")
        seen: set[str] = set()
        result = []
        for i, entry in enumerate(entries):
            label = f"sources[{i}]"
            if not isinstance(entry, dict):
                raise self.fail(label, "must be a table")
            allowed = {"name", "kind", "url", "interval", "enabled", "lang"}
            for key in entry:
                if key not in allowed:
                    raise self.fail(f"{label}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
            for key in ("name", "kind", "url"):
                if key not in entry:
                    raise self.fail(f"{label}.{key}", "is required")
            name = self.typed(entry, "name", f"{label}.name", str, "")
            label = f"sources[{i}] ({name})"
            if not NAME_RE.match(name):
                raise self.fail(f"{label}.name", "must match [a-z0-9_-]+")
            if name in seen:
                raise self.fail(f"{label}.name", "duplicate source name")
            seen.add(name)
            kind = self.typed(entry, "kind", f"{label}.kind", str, "")
            if kind not in SOURCE_KINDS:
                raise self.fail(
                    f"{label}.kind", f"unknown kind {kind!r} (allowed: {', '.join(SOURCE_KINDS)})"
                )
            url = self.typed(entry, "url", f"{label}.url", str, "")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", url):
                raise self.fail(f"{label}.url", f"must be an absolute http(s) URL (got {url!r})")
            interval = self.duration(entry, "interval", f"{label}.interval", 300.0)
            if interval < MIN_POLITE_INTERVAL:
                warnings.warn(
                    f"{self.path}: {label}.interval: {interval:g} s is below {MIN_POLITE_INTERVAL:g} s; "
                    "fine for tests, impolite to real sites",
                    stacklevel=2,
                )
            lang = entry.get("lang")
            if lang is not None and lang not in ("zh", "en"):
                raise self.fail(f"{label}.lang", f'must be "zh" or "en" (got {lang!r})')
            enabled = self.typed(entry, "enabled", f"{label}.enabled", bool, True)
            result.append(SourceConfig(name, kind, url, interval, enabled, lang))
        return tuple(result)

    def crawl(self, raw: dict[str, Any]) -> CrawlConfig:
        d = CrawlConfig()
        section = self.table(raw, "crawl", set(CrawlConfig.__dataclass_fields__))
        ints = {}
        for key in (
            "retries",
            "max_bytes",
            "concurrency_per_domain",
            "max_articles_per_poll",
            "max_parallel_crawls",
            "workers",
            "worker_max_crawls",
        ):
            ints[key] = self.typed(section, key, f"crawl.{key}", int, getattr(d, key))
            if ints[key] < (0 if key == "retries" else 1):
                raise self.fail(f"crawl.{key}", f"must be at least {0 if key == 'retries' else 1}")
        max_memory = d.max_memory
        if "max_memory" in section:
            try:
                max_memory = parse_size(section["max_memory"])
            except ValueError:
                raise self.fail(
                    "crawl.max_memory",
                    f'must be a size like "512MB" or "1GB" (got {section["max_memory"]!r})',
                ) from None
            if max_memory < 64 * 1024**2:
                raise self.fail("crawl.max_memory", "must be at least 64MB: a crawl needs that much to start")
        return CrawlConfig(
            user_agent=self.typed(section, "user_agent", "crawl.user_agent", str, d.user_agent),
            timeout=self.duration(section, "timeout", "crawl.timeout", d.timeout),
            batch_timeout=self.duration(section, "batch_timeout", "crawl.batch_timeout", d.batch_timeout),
            allow_private=self.typed(section, "allow_private", "crawl.allow_private", bool, d.allow_private),
            max_memory=max_memory,
            **ints,
        )

    def watch(self, raw: dict[str, Any]) -> WatchConfig:
        section = self.table(raw, "watch", {"keywords", "exclude"})
        lists = {}
        for key in ("keywords", "exclude"):
            values = self.typed(section, key, f"watch.{key}", list, [])
            for j, v in enumerate(values):
                if not isinstance(v, str) or not v.strip() or len(v) > 100:
                    raise self.fail(
                        f"watch.{key}[{j}]", "must be a non-empty string of at most 100 characters"
                    )
            lists[key] = tuple(v.strip() for v in values)
        return WatchConfig(**lists)

    def telegram(self, raw: dict[str, Any]) -> TelegramConfig:
        section = self.table(raw, "telegram", {"token", "api_base_url", "admins"})
        token = os.environ.get(TOKEN_ENV) or self.typed(section, "token", "telegram.token", str, "")
        base = self.typed(section, "api_base_url", "telegram.api_base_url", str, TelegramConfig.api_base_url)
        if urlsplit(base).scheme not in ("http", "https"):
            raise self.fail("telegram.api_base_url", f"must be an http(s) URL (got {base!r})")
        admins = self.typed(section, "admins", "telegram.admins", list, [])
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in admins):
            raise self.fail("telegram.admins", "must be a list of numeric chat ids")
        return TelegramConfig(token=token.strip(), api_base_url=base, admins=tuple(admins))

    def alerts(self, raw: dict[str, Any]) -> AlertsConfig:
        section = self.table(raw, "alerts", {"max_age", "delivery_interval"})
        d = AlertsConfig()
        return AlertsConfig(
            max_age=self.duration(section, "max_age", "alerts.max_age", d.max_age),
            delivery_interval=self.duration(
                section, "delivery_interval", "alerts.delivery_interval", d.delivery_interval
            ),
        )


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", list: "a list", float: "a number"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _anchor_sqlite_path(url: str, base: Path) -> str:
    """Relative SQLite paths are taken relative to the config file, not the working directory."""
    match = re.match(r"^(sqlite(?:\+\w+)?:///)([^?]*)(.*)$", url)
    if not match or match.group(2) in ("", ":memory:"):
        return url
    prefix, name, query = match.groups()
    path = Path(name)
    if not path.is_absolute():
        path = (base / path).resolve()
    return prefix + str(path) + query
