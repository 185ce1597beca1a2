"""Load and validate ``config.toml``.

Every mistake an operator can make in the file is reported as one :class:`ConfigError` line naming the
file, the key and what is wrong, so the CLI can exit with status 2 instead of a traceback. Unknown keys
are errors too: a misspelled ``intervall`` silently ignored is worse than a refusal.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .models import LANGS

DEFAULT_CONFIG = "config.toml"
CONFIG_ENV = "NEWSWATCH_CONFIG"
TOKEN_ENV = "NEWSWATCH_TELEGRAM_TOKEN"
# Settings a container sets from its environment; the environment wins over the file. The storage URL
# lets one image run on SQLite in its /data volume or on PostgreSQL, the listen address lets the web
# server answer health checks from outside the container (the [web] section comes with the web server).
ENV_OVERRIDES = {
    "NEWSWATCH_STORAGE_URL": ("storage", "url"),
    "NEWSWATCH_WEB_LISTEN": ("web", "listen"),
}
SOURCE_KINDS = ("ithome", "rss")
NAME_RE = re.compile(r"[a-z0-9_-]{1,64}")  # fullmatch: "$" alone lets a trailing newline through
TOKEN_RE = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,200}")  # what PTB puts in every request path
ITHOME_HOSTS = ("www.ithome.com", "ithome.com")
_NOT_IN_URL = re.compile(r"[\s\x00-\x1f\x7f]")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*$", re.I)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
MIN_POLITE_INTERVAL = 60.0
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
# (lowest, highest) accepted: beyond them a value crashes the scheduler (1e308 s) or spins (0.0001 s)
DURATION_BOUNDS = {
    "interval": (1.0, 7 * DAY),
    "timeout": (1.0, 10 * MINUTE),
    "max_age": (MINUTE, 365 * DAY),
    "delivery_interval": (0.5, HOUR),
    "batch_timeout": (10.0, HOUR),
}
INT_BOUNDS = {
    "retries": (0, 10),
    "max_bytes": (1, 1_000_000_000),
    "concurrency_per_domain": (1, 32),
    "max_articles_per_poll": (1, 1000),
    "max_parallel_crawls": (1, 32),
    "workers": (1, 32),
    "worker_max_crawls": (1, 1_000_000),
}
MAX_MEMORY_BOUNDS = (64 * 1024**2, 64 * 1024**3)
_LISTEN_RE = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


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
class WebConfig:
    """The tracker page, APIs, feed, metrics and health check; ``listen = ""`` turns them off."""

    listen: str = "127.0.0.1:8080"  # loopback by default: put a reverse proxy in front to publish it

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port) to bind, or None when off; ``listen`` is validated when the file is loaded."""
        if not self.listen:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True)
class TrackerConfig:
    # Raw [[tracker.events]] tables; newswatch.tracker checks them against the vocabulary, as
    # Detector.from_config checks [vocabulary] (both need the vocabulary built first).
    events: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Config:
    path: Path
    storage_url: str
    sources: tuple[SourceConfig, ...]
    crawl: CrawlConfig = field(default_factory=CrawlConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    vocabulary: dict[str, Any] = field(default_factory=dict)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)

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


def is_http_url(url: str) -> bool:
    """An absolute http(s) URL with a host and no whitespace or control characters: the only kind of
    URL a source may have (``javascript:``, ``file:`` and the like are refused wherever URLs come in)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises for "http://a:99999/" or "http://a:x/")
    except ValueError:  # that, or "http://[::1": an unclosed IPv6 bracket
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not _NOT_IN_URL.search(url)


def default_kind(url: str) -> str:
    """The kind a source at ``url`` (an ``is_http_url``) should have: ITHome's own reader for ITHome,
    whose feed only links to the pages it reads, the feed reader for everything else."""
    return "ithome" if urlsplit(url).hostname in ITHOME_HOSTS else "rss"


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
    overridden = {}
    for variable, (section, key) in ENV_OVERRIDES.items():
        value = os.environ.get(variable, "").strip()
        if value and isinstance(raw.setdefault(section, {}), dict):
            raw[section][key] = value
            overridden[f"{section}.{key}"] = variable
    return _Parser(cfg_path, overridden).config(raw)


class _Parser:
    """Walks the raw TOML tables, checking each key against what the section accepts."""

    def __init__(self, path: Path, overridden: dict[str, str] | None = None):
        self.path = path
        self.overridden = overridden or {}  # key -> the environment variable its value came from

    def fail(self, key: str, problem: str) -> ConfigError:
        if key in self.overridden:
            key = f"{key} (from ${self.overridden[key]})"
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
            seconds = parse_duration(section[key])
        except ValueError:
            raise self.fail(
                label, f'must be a positive duration like 120, "90s", "5m" or "1h" (got {section[key]!r})'
            ) from None
        low, high = DURATION_BOUNDS[key]
        if not low <= seconds <= high:
            raise self.fail(label, f"must be from {_human(low)} to {_human(high)} (got {section[key]!r})")
        return seconds

    def integer(self, section: dict[str, Any], key: str, label: str, default: int) -> int:
        value = self.typed(section, key, label, int, default)
        low, high = INT_BOUNDS[key]
        if not low <= value <= high:
            raise self.fail(label, f"must be from {low} to {high} (got {value})")
        return value

    def http_url(self, value: str, label: str, problem: str) -> str:
        """An absolute http(s) URL that Python's own parser accepts (port in range, valid IPv6)."""
        try:
            urlsplit(value).port  # noqa: B018 -- raises ValueError for "Port out of range" or junk
        except ValueError as exc:
            raise self.fail(label, f"{problem} ({str(exc).lower()}: {value!r})") from None
        if not is_http_url(value):
            raise self.fail(label, f"{problem} (got {value!r})")
        return value

    def config(self, raw: dict[str, Any]) -> Config:
        top = {"storage", "sources", "crawl", "watch", "telegram", "alerts", "web", "vocabulary", "tracker"}
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
            web=self.web(raw),
            vocabulary=self.table(
                raw, "vocabulary", {"providers", "services", "regions", "places", "actions", "ignore"}
            ),
            tracker=self.tracker(raw),
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
            label = f"sources[{i}] ({name if name.isprintable() else repr(name)})"
            if not NAME_RE.fullmatch(name):
                raise self.fail(f"{label}.name", "must match [a-z0-9_-]+, at most 64 characters")
            if name in seen:
                raise self.fail(f"{label}.name", "duplicate source name")
            seen.add(name)
            kind = self.typed(entry, "kind", f"{label}.kind", str, "")
            if kind not in SOURCE_KINDS:
                raise self.fail(
                    f"{label}.kind", f"unknown kind {kind!r} (allowed: {', '.join(SOURCE_KINDS)})"
                )
            url = self.http_url(
                self.typed(entry, "url", f"{label}.url", str, ""),
                f"{label}.url",
                "must be an absolute http(s) URL",
            )
            interval = self.duration(entry, "interval", f"{label}.interval", 300.0)
            if interval < MIN_POLITE_INTERVAL:
                warnings.warn(
                    f"{self.path}: {label}.interval: {interval:g} s is below {MIN_POLITE_INTERVAL:g} s; "
                    "fine for tests, impolite to real sites",
                    stacklevel=2,
                )
            lang = entry.get("lang")
            if lang is not None and lang not in LANGS:
                raise self.fail(f"{label}.lang", f"must be one of {', '.join(LANGS)} (got {lang!r})")
            enabled = self.typed(entry, "enabled", f"{label}.enabled", bool, True)
            result.append(SourceConfig(name, kind, url, interval, enabled, lang))
        return tuple(result)

    def crawl(self, raw: dict[str, Any]) -> CrawlConfig:
        d = CrawlConfig()
        section = self.table(raw, "crawl", set(CrawlConfig.__dataclass_fields__))
        ints = {key: self.integer(section, key, f"crawl.{key}", getattr(d, key)) for key in INT_BOUNDS}
        max_memory = d.max_memory
        if "max_memory" in section:
            try:
                max_memory = parse_size(section["max_memory"])
            except ValueError:
                raise self.fail(
                    "crawl.max_memory",
                    f'must be a size like "512MB" or "1GB" (got {section["max_memory"]!r})',
                ) from None
            if max_memory < MAX_MEMORY_BOUNDS[0]:
                raise self.fail("crawl.max_memory", "must be at least 64MB: a crawl needs that much to start")
            if max_memory > MAX_MEMORY_BOUNDS[1]:
                raise self.fail("crawl.max_memory", f"must be at most 64GB (got {section['max_memory']!r})")
        user_agent = self.typed(section, "user_agent", "crawl.user_agent", str, d.user_agent)
        if not user_agent.isprintable() or not 0 < len(user_agent) <= 300:
            raise self.fail(
                "crawl.user_agent", f"must be one line of at most 300 characters (got {user_agent!r})"
            )
        return CrawlConfig(
            user_agent=user_agent,
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
                from .detect.keywords import clean_keyword  # here: only configs with keywords pay for it

                try:
                    clean_keyword(v)
                except ValueError as exc:  # the matcher would refuse it when `run` starts
                    raise self.fail(f"watch.{key}[{j}]", f"{exc} (got {v!r})") from None
            lists[key] = tuple(v.strip() for v in values)
        return WatchConfig(**lists)

    def telegram(self, raw: dict[str, Any]) -> TelegramConfig:
        section = self.table(raw, "telegram", {"token", "api_base_url", "admins"})
        in_file = self.typed(section, "token", "telegram.token", str, "").strip()
        token = (os.environ.get(TOKEN_ENV) or in_file).strip()
        if token and not TOKEN_RE.fullmatch(token):
            where = TOKEN_ENV if os.environ.get(TOKEN_ENV) else "telegram.token"
            raise self.fail(
                where, "must be a bot token as @BotFather gives it: digits, a colon, then letters"
            )
        if in_file and self.path.stat().st_mode & stat.S_IROTH:
            warnings.warn(
                f"{self.path}: telegram.token: every user of this machine can read this file; "
                f"chmod 600 it, or set {TOKEN_ENV} instead",
                stacklevel=2,
            )
        problem = 'must be an http(s) URL ending in /bot, like "https://api.telegram.org/bot"'
        base = self.http_url(
            self.typed(section, "api_base_url", "telegram.api_base_url", str, TelegramConfig.api_base_url),
            "telegram.api_base_url",
            problem,
        )
        parts = urlsplit(base)
        if not parts.path.endswith("/bot") or parts.query or parts.fragment:
            # PTB appends TOKEN/method: without /bot the token lands in the host or port, and in logs
            raise self.fail("telegram.api_base_url", f"{problem} (got {base!r})")
        admins = self.typed(section, "admins", "telegram.admins", list, [])
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in admins):
            raise self.fail("telegram.admins", "must be a list of numeric chat ids")
        return TelegramConfig(token=token, api_base_url=base, admins=tuple(admins))

    def alerts(self, raw: dict[str, Any]) -> AlertsConfig:
        section = self.table(raw, "alerts", {"max_age", "delivery_interval"})
        d = AlertsConfig()
        return AlertsConfig(
            max_age=self.duration(section, "max_age", "alerts.max_age", d.max_age),
            delivery_interval=self.duration(
                section, "delivery_interval", "alerts.delivery_interval", d.delivery_interval
            ),
        )

    def web(self, raw: dict[str, Any]) -> WebConfig:
        section = self.table(raw, "web", {"listen"})
        listen = self.typed(section, "listen", "web.listen", str, WebConfig.listen).strip()
        match = _LISTEN_RE.match(listen)
        if listen and not (match and 0 < int(match.group(2)) < 65536):
            raise self.fail(
                "web.listen",
                f'must be "HOST:PORT" like "127.0.0.1:8080" or "[::1]:8080", or "" for off (got {listen!r})',
            )
        return WebConfig(listen=listen)

    def tracker(self, raw: dict[str, Any]) -> TrackerConfig:
        section = self.table(raw, "tracker", {"events"})
        events = self.typed(section, "events", "tracker.events", list, [])
        for i, entry in enumerate(events):
            if not isinstance(entry, dict):
                raise self.fail(f"tracker.events[{i}]", "must be a table ([[tracker.events]])")
        return TrackerConfig(events=tuple(events))


def _human(seconds: float) -> str:
    """A bound as the operator writes it: 0.5s, 10m, 7d."""
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


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
