"""Adding sources to config.toml in place, for ``newswatch sources import``.

The operator's file is theirs: tomlkit appends the new ``[[sources]]`` tables after the last one and
leaves every comment, blank line and key order as it was. The new text must load with
``config.load`` before it replaces the file, and it replaces it atomically (a temporary file in the
same directory, then a rename) with the old file's mode and owner, so an interrupted or mistaken
import never leaves a half-written or invalid config behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import tomlkit
from tomlkit.items import AoT, Table

from . import config as cfg
from .opml import OpmlError, Outline

MAX_NAME = 40


@dataclass(frozen=True)
class NewSource:
    name: str
    kind: str
    url: str
    interval: str
    enabled: bool = True


@dataclass
class Plan:
    """What an import adds, and what it leaves out and why."""

    added: list[NewSource] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (url, why)
    flattened: bool = False  # some outlines were filed in categories, which newswatch does not keep


def plan(config: cfg.Config, outlines: Iterable[Outline], kind: str, interval: str, origin: str) -> Plan:
    """The sources to add for ``outlines``: each URL once, named uniquely.

    ITHome URLs get the ``ithome`` kind whatever ``kind`` says (its feed only links to the pages the
    ITHome reader parses). OpmlError for an outline whose URL is not http(s): the whole import is
    refused rather than half done."""
    result = Plan()
    configured = {_url_key(s.url): s.name for s in config.sources}
    names = {s.name for s in config.sources}
    listed: set[tuple[str, ...]] = set()
    for outline in outlines:
        if not cfg.is_http_url(outline.url):
            label = f"outline {outline.title!r}" if outline.title else "an outline"
            raise OpmlError(f"{label}: {outline.url!r} is not an http(s) URL")
        key = _url_key(outline.url)
        if key in configured:
            result.skipped.append((outline.url, f"already configured as {configured[key]}"))
            continue
        if key in listed:
            result.skipped.append((outline.url, f"listed more than once in {origin}"))
            continue
        listed.add(key)
        result.flattened = result.flattened or bool(outline.folders)
        name = _unique(_derive_name(outline), names)
        names.add(name)
        source_kind = "ithome" if cfg.default_kind(outline.url) == "ithome" else kind
        result.added.append(NewSource(name, source_kind, outline.url, interval, outline.enabled))
    return result


def _url_key(url: str) -> tuple[str, ...]:
    """What makes two source URLs the same feed: scheme and host in any case, the default port or
    none, with or without a fragment."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    port = "" if parts.port in (None, default) else str(parts.port)
    return (parts.scheme.lower(), parts.hostname or "", port, parts.path or "/", parts.query)


def _derive_name(outline: Outline) -> str:
    """The title when it is a name already (as in an export), else a ``[a-z0-9_-]+`` slug of it when
    it spells out in ASCII, else one of the host."""
    if cfg.NAME_RE.fullmatch(outline.title):
        return outline.title
    if name := _slug(outline.title):
        return name
    host = urlsplit(outline.url).hostname or "feed"
    return _slug(host.removeprefix("www.")) or "feed"


def _slug(text: str) -> str:
    """ "Ars Technica" -> "ars-technica", "Café Tech" -> "cafe-tech"; "" when letters would be lost
    ("IT之家" does not become "it")."""
    ascii_text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    if not ascii_text.isascii():
        return ""
    return re.sub(r"[^a-z0-9_]+", "-", ascii_text.lower()).strip("-_")[:MAX_NAME].strip("-_")


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    number = 2
    while f"{name}-{number}" in taken:
        number += 1
    return f"{name}-{number}"


def _table(source: NewSource) -> Table:
    table = tomlkit.table()
    table.add("name", source.name)
    table.add("kind", source.kind)
    table.add("url", source.url)
    table.add("interval", source.interval)
    if not source.enabled:
        table.add("enabled", False)
    table.trivia.indent = "\n"  # a blank line before each [[sources]] header
    return table


def as_toml(sources: Sequence[NewSource]) -> str:
    """The ``[[sources]]`` tables an import appends, as they will read in the file."""
    document = tomlkit.document()
    document.append("sources", _aot(sources))
    return tomlkit.dumps(document).lstrip("\n")


def _aot(sources: Sequence[NewSource]) -> AoT:
    aot = tomlkit.aot()
    for source in sources:
        aot.append(_table(source))
    return aot


def appended(path: Path, text: str, sources: Sequence[NewSource]) -> str:
    """``text`` (the config file at ``path``) with ``sources`` appended after its last ``[[sources]]``
    table; ConfigError when its sources are not written as ``[[sources]]`` tables."""
    document = tomlkit.parse(text)
    if "sources" not in document:
        document.append("sources", _aot(sources))
        return tomlkit.dumps(document)
    existing = document["sources"]
    if not isinstance(existing, AoT):
        raise cfg.ConfigError(f"{path}: sources: not written as [[sources]] tables; add these by hand")
    if existing and existing[-1].as_string().endswith("\n\n"):
        first = _table(sources[0])
        first.trivia.indent = ""  # the last table already ends with a blank line
        tables = [first, *map(_table, sources[1:])]
    else:
        tables = [_table(s) for s in sources]
    if list(document)[-1] != "sources":  # more tables follow: keep a blank line before them
        tables[-1].add(tomlkit.nl())
    for table in tables:
        existing.append(table)
    return tomlkit.dumps(document)


def add_sources(path: Path, sources: Sequence[NewSource]) -> None:
    """Append ``sources`` to the config file at ``path``, atomically; ConfigError if the result would
    not load (the file is then left as it was)."""
    path = path.resolve()  # a symlinked config: replace its target, not the link
    text = path.read_text(encoding="utf-8")
    new_text = appended(path, text, sources)
    status = path.stat()
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(new_text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, status.st_mode & 0o7777)
        with contextlib.suppress(PermissionError):  # only root may give a file away
            os.chown(temporary, status.st_uid, status.st_gid)
        with warnings.catch_warnings():  # the file's own warnings (short intervals) are not news here
            warnings.simplefilter("ignore")
            try:
                cfg.load(temporary)
            except cfg.ConfigError as exc:
                raise cfg.ConfigError(str(exc).replace(temporary, str(path))) from None
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)
