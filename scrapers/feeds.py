"""Feed bytes -> entries, with honest charset handling.

feedparser decodes what the HTTP header or the XML prolog declares. For the rest we decide before it
does: valid UTF-8 stays, GB2312/GBK declarations are widened to GB18030 (their superset, so one rare
character does not break the whole feed), and undeclared non-UTF-8 bytes are sniffed with
charset-normalizer instead of being read as Windows-1252 mojibake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import feedparser
from charset_normalizer import from_bytes

_PROLOG_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9_.:-]+)[\"']", re.I)
_HEADER_CHARSET = re.compile(r"charset=[\"']?([A-Za-z0-9_.:-]+)", re.I)
_GB_FAMILY = {"gb2312", "gbk", "x-gbk", "gb_2312-80", "cp936", "euc-cn", "gb18030"}


class FeedError(ValueError):
    """The body is not a usable feed; the message says why, for the source's status."""


@dataclass(frozen=True)
class FeedEntry:
    link: str  # the identity is the canonical link: GUIDs are too often missing or unstable
    title: str
    summary_html: str
    content_html: str
    published: datetime | None


@dataclass(frozen=True)
class Feed:
    """A parsed feed: its entries, and what ``newswatch sources check`` tells an operator about it."""

    version: str  # feedparser's name of the format: "rss20", "atom10", "rss10" (RDF) ...
    charset: str  # what the bytes were read as
    entries: list[FeedEntry]


def declared_charset(body: bytes, content_type: str) -> str | None:
    """The charset the HTTP header, else the XML prolog, declares."""
    if m := _HEADER_CHARSET.search(content_type or ""):
        return m.group(1).lower()
    if m := _PROLOG_ENCODING.match(body[:200]):
        return m.group(1).decode("ascii").lower()
    return None


def decode(body: bytes, content_type: str = "") -> tuple[str, str]:
    """The text, and the charset it was read as."""
    declared = declared_charset(body, content_type)
    if declared in _GB_FAMILY:
        return body.decode("gb18030", errors="replace"), "gb18030"
    if declared and declared not in ("utf-8", "utf8"):
        try:
            return body.decode(declared), declared
        except (LookupError, UnicodeDecodeError):
            return _sniff(body)
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return _sniff(body)


def to_utf8(body: bytes, content_type: str = "") -> tuple[bytes, str]:
    """The feed re-encoded as UTF-8 with a matching prolog, whatever it came in, and what it came in."""
    text, charset = decode(body, content_type)
    text = re.sub(
        r"^\s*<\?xml[^>]*\?>", '<?xml version="1.0" encoding="utf-8"?>', text.lstrip("\ufeff"), count=1
    )
    return text.encode("utf-8"), charset


def _sniff(body: bytes) -> tuple[str, str]:
    best = from_bytes(body[:200_000]).best()
    encoding = best.encoding if best else "utf-8"
    if encoding.replace("_", "").lower() in {e.replace("_", "") for e in _GB_FAMILY} or encoding == "big5":
        encoding = "gb18030" if encoding != "big5" else encoding
    return body.decode(encoding, errors="replace"), encoding


def parse(body: bytes, content_type: str = "") -> list[FeedEntry]:
    """Entries of an RSS 0.9x/1.0/2.0 or Atom feed; FeedError when it is not a feed at all."""
    return read(body, content_type).entries


def read(body: bytes, content_type: str = "") -> Feed:
    """The feed with its format and charset; FeedError when it is not a feed at all."""
    if not body.strip():
        raise FeedError("empty response")
    utf8, charset = to_utf8(body, content_type)
    parsed = feedparser.parse(utf8, response_headers={"content-type": "application/xml; charset=utf-8"})
    if not parsed.entries:
        if not parsed.get("version"):
            head = body[:500].lstrip().lower()
            if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
                raise FeedError("an HTML page, not RSS/Atom")
            reason = parsed.get("bozo_exception")
            served = content_type.split(";")[0].strip() or "no content type"
            raise FeedError(f"not RSS/Atom ({served}" + (f": {reason})" if reason else ")"))
        if parsed.get("bozo"):
            raise FeedError(f"malformed feed: {parsed.get('bozo_exception')}")
    entries = [entry for e in parsed.entries if (entry := _entry(e)) is not None]
    return Feed(parsed.get("version") or "", charset, entries)


def _entry(e: feedparser.FeedParserDict) -> FeedEntry | None:
    link = e.get("link") or ""
    if not link and str(e.get("id", "")).startswith("http"):
        link = e["id"]
    if not link:
        return None
    content = ""
    for part in e.get("content", []) or []:
        if len(part.get("value", "")) > len(content):
            content = part["value"]
    published = None
    for key in ("published_parsed", "updated_parsed"):
        if e.get(key):
            published = datetime(*e[key][:6], tzinfo=UTC)
            break
    return FeedEntry(
        link=link.strip(),
        title=e.get("title", ""),
        summary_html=e.get("summary", ""),
        content_html=content,
        published=published,
    )
