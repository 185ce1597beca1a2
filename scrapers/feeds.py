"""Feed bytes -> entries: feedparser reads the bytes and the response headers; we step in where it fails.

feedparser decides the charset from the HTTP header, the BOM and the XML prolog (RFC 3023 and XML
appendix F: UTF-16 and UTF-32 without a BOM, EBCDIC), so it gets the raw bytes and the real headers.
We step in at three places only:

- GB2312/GBK declarations are widened to GB18030, their superset, so one rare character does not
  send feedparser to a Windows code page for the whole feed;
- when feedparser's decoding fails (it falls back to windows-1252 or iso-8859-2 although neither was
  declared), the declared charset is used with replacement characters for the bad bytes (one bad
  byte costs one character, not the document), and undeclared bytes are sniffed with
  charset-normalizer;
- before parsing, the document feedparser would parse is checked for what can hurt: an internal DTD
  subset (feedparser's fallback parser expands its entities: a 100 KB feed grows to gigabytes) is
  stripped, and character references to surrogates or beyond U+10FFFF (which crash that parser and
  lose the whole feed) become U+FFFD.

Every entry is converted on its own: one that cannot be read is a problem of that entry, not the feed.
"""

from __future__ import annotations

import codecs
import html.entities
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin

import feedparser
from charset_normalizer import from_bytes
from feedparser.encodings import convert_to_utf8
from feedparser.sanitizer import _sanitize_html
from feedparser.urls import resolve_relative_uris

_HEADER_CHARSET = re.compile(r"charset=[\"']?([A-Za-z0-9_.:-]+)[\"']?", re.I)
_PROLOG_ENCODING = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9_.:-]+)[\"']", re.I)
_PROLOG = re.compile(r"^\s*<\?xml[^>]*\?>")
_GB_FAMILY = {"gb2312", "gbk", "x-gbk", "gb_2312-80", "cp936", "euc-cn", "gb18030"}
# What feedparser tries when nothing declared works: a document read as one of these, undeclared, was
# misread.
_LAST_RESORT = {"windows-1252", "iso-8859-2"}
_DOCTYPE = re.compile(r"<!DOCTYPE", re.I)
_ENTITY_DECLARATION = re.compile(r"<!ENTITY[^>]*>", re.I)
_ENTITY_NAME = re.compile(r"<!ENTITY\s+([A-Za-z_:][\w.:-]*)", re.I)  # general entities, not % ones
_ROOT = re.compile(r"<[A-Za-z_:]")
_CHAR_REF = re.compile(r"&#([xX][0-9a-fA-F]+|[0-9]+);")
_HARMLESS = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
_HTML_TYPES = {"text/html", "application/xhtml+xml"}


class FeedError(ValueError):
    """The body is not a usable feed; the message says why, for the source's status."""


@dataclass(frozen=True)
class FeedEntry:
    link: str  # as published, absolute; "" when the entry has none
    id: str  # the entry's id or guid; "" when none
    title: str
    summary_html: str
    content_html: str
    published: datetime | None


@dataclass(frozen=True)
class Feed:
    entries: list[FeedEntry]
    link: str = ""  # the feed's own link (its site): the place to read entries that have none
    encoding: str = ""  # what the bytes were read as
    problems: list[str] = field(default_factory=list)  # entries that could not be read, with why
    version: str = ""  # feedparser's name of the format: "rss20", "atom10", "rss10" (RDF) ...


def declared_charset(body: bytes, content_type: str) -> str | None:
    """The charset the HTTP header, else the XML prolog, declares."""
    return _header_charset(content_type) or _prolog_encoding(body)


def parse(body: bytes, headers: Mapping[str, str] | None = None, url: str = "") -> Feed:
    """The entries of an RSS 0.9x/1.0/2.0 or Atom feed served with ``headers`` from ``url``;
    FeedError when it is not a feed at all."""
    if not body.strip():
        raise FeedError("empty response")
    headers = _widened({k.lower(): v for k, v in (headers or {}).items()}, body)
    if url:  # relative links resolve against the feed's address, as HTTP says
        headers["content-location"] = urljoin(url, headers.get("content-location", ""))
    document, document_headers, encoding = _prepared(body, headers)
    try:
        # We read text out of the entries' HTML (normalize.html_to_text) and never show it: feedparser's
        # sanitizing and resolving of links inside it would cost half of the parse for nothing. An
        # HTML title is shown: _title does both for it.
        parsed = feedparser.parse(
            document, response_headers=document_headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as exc:  # feedparser itself broke: say so rather than crash the poll
        raise FeedError(f"unreadable feed: {type(exc).__name__}: {exc}") from None
    if not parsed.entries:
        _refuse_non_feed(parsed, body, headers.get("content-type", ""))
    entries, problems = [], []
    for number, raw in enumerate(parsed.entries, 1):
        try:
            entries.append(_entry(raw, parsed.get("encoding") or "utf-8"))
        except Exception as exc:  # one odd entry must not lose the others
            problems.append(f"entry {number}: cannot read it: {type(exc).__name__}: {exc}")
    return Feed(
        entries,
        parsed.feed.get("link", ""),
        encoding or parsed.get("encoding", ""),
        problems,
        parsed.get("version") or "",
    )


def _widened(headers: dict[str, str], body: bytes) -> dict[str, str]:
    """The headers with a GB2312/GBK charset (declared by HTTP, else by the prolog) made GB18030."""
    content_type = headers.get("content-type", "")
    declared = declared_charset(body, content_type)
    if declared not in _GB_FAMILY:
        return headers
    media = content_type.split(";")[0].strip() or "application/xml"
    return {**headers, "content-type": f"{media}; charset=gb18030"}


def _header_charset(content_type: str) -> str | None:
    m = _HEADER_CHARSET.search(content_type)
    return m.group(1).lower() if m else None


def _prolog_encoding(body: bytes) -> str | None:
    m = _PROLOG_ENCODING.match(body[:200])
    return m.group(1).decode("ascii").lower() if m else None


def _prepared(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str], str]:
    """(document, headers, encoding) to give feedparser: the raw bytes and headers when they are safe
    and feedparser reads them; otherwise UTF-8 we made safe (``encoding`` says what it was read as)."""
    read: dict = {}
    utf8 = convert_to_utf8(dict(headers), body, read)  # exactly what feedparser.parse would decode
    encoding = read.get("encoding") or ""
    declared = {_header_charset(headers.get("content-type", "")), _prolog_encoding(body)}
    misread = not encoding or (encoding in _LAST_RESORT and encoding not in declared)
    if misread:
        text, encoding = _decode_fallback(body, headers)
    else:
        text = utf8.decode("utf-8")
    safe = _defused(text)
    if safe == text and not misread:
        return body, headers, ""
    content_type = headers.get("content-type", "").split(";")[0].strip() or "application/xml"
    return safe.encode("utf-8"), {**headers, "content-type": f"{content_type}; charset=utf-8"}, encoding


def _decode_fallback(body: bytes, headers: dict[str, str]) -> tuple[str, str]:
    """The text of a document feedparser could not decode: in its declared charset (a UTF-8 BOM
    declares UTF-8), bad bytes replaced; undeclared, in the one charset-normalizer finds."""
    declared = "utf-8" if body.startswith(codecs.BOM_UTF8) else None
    declared = declared or _header_charset(headers.get("content-type", "")) or _prolog_encoding(body)
    encoding = _codec(declared) if declared else None
    if encoding is None:
        best = from_bytes(body[:200_000]).best()
        encoding = _codec(best.encoding if best else "utf-8") or "utf-8"
    text = body.decode(encoding, errors="replace").lstrip("\ufeff")
    return _PROLOG.sub('<?xml version="1.0" encoding="utf-8"?>', text, count=1), encoding


def _codec(name: str) -> str | None:
    """Python's name for a charset, GB2312/GBK widened to GB18030; None when Python has no such codec."""
    if name.lower() in _GB_FAMILY:
        return "gb18030"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _defused(text: str) -> str:
    """The document without an internal DTD subset or entity declarations (references to what they
    declared removed, unless HTML knows the name: ``&nbsp;`` still reads), and with character
    references feedparser cannot represent replaced by U+FFFD (NUL: removed)."""
    text, declared = _without_dtd_subset(text)
    unknown = {name for name in declared if f"{name};" not in html.entities.html5}
    if unknown:
        text = re.sub("&(" + "|".join(map(re.escape, sorted(unknown))) + ");", "", text)
    return _CHAR_REF.sub(_char_ref, text)


def _char_ref(m: re.Match[str]) -> str:
    ref = m.group(1)
    code = int(ref[1:], 16) if ref[0] in "xX" else int(ref)
    if code == 0:
        return ""
    if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        return "&#xFFFD;"
    return m.group(0)


def _without_dtd_subset(text: str) -> tuple[str, set[str]]:
    """(the text, the entity names it declared) without the DOCTYPE's ``[...]`` subset and without any
    ``<!ENTITY`` before the root element, where feedparser would collect them. ``<!DOCTYPE name
    PUBLIC ...>`` itself stays: it tells RSS 0.91 apart."""
    removed = ""
    doctype = _DOCTYPE.search(text)
    root = _ROOT.search(text)
    if doctype is not None and (root is None or doctype.start() < root.start()):
        subset = _subset_span(text, doctype.end())
        if subset is not None:
            removed = text[subset[0] : subset[1]]
            text = text[: subset[0]] + text[subset[1] :]
    root = _ROOT.search(text)
    head_end = root.start() if root else len(text)
    head = text[:head_end]
    if "<!ENTITY" in head.upper():
        removed += "".join(_ENTITY_DECLARATION.findall(head))
        text = _ENTITY_DECLARATION.sub("", head) + text[head_end:]
    return text, set(_ENTITY_NAME.findall(removed))


def _subset_span(text: str, start: int) -> tuple[int, int] | None:
    """Where the ``[...]`` internal subset of the DOCTYPE declaration starting at ``start`` is, quoted
    strings and comments inside it skipped; None when the declaration has none."""
    quote = None
    opened = None
    i = start
    while i < len(text):
        c = text[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "\"'":
            quote = c
        elif opened is None and c == ">":
            return None
        elif opened is None and c == "[":
            opened = i
        elif opened is not None and text.startswith("<!--", i):
            end = text.find("-->", i + 4)
            i = len(text) if end < 0 else end + 3
            continue
        elif opened is not None and c == "]":
            return opened, i + 1
        i += 1
    return (opened, len(text)) if opened is not None else None


def _refuse_non_feed(parsed: feedparser.FeedParserDict, body: bytes, content_type: str) -> None:
    """Raise FeedError for a document with no entries that is not an (empty) feed."""
    if not parsed.get("version"):
        head = body[:500].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
            raise FeedError("an HTML page, not RSS/Atom")
        reason = parsed.get("bozo_exception")
        served = content_type.split(";")[0].strip() or "no content type"
        raise FeedError(f"not RSS/Atom ({served}" + (f": {reason})" if reason else ")"))
    # a feed without entries that did not parse to its end may have lost them: say so. A charset
    # that differs from the declared one, or a media type that is not XML's, lost nothing.
    if parsed.get("bozo") and not isinstance(parsed.get("bozo_exception"), _HARMLESS):
        raise FeedError(f"malformed feed: {parsed.get('bozo_exception')}")


def _title(e: feedparser.FeedParserDict, encoding: str) -> str:
    """The entry's title as feedparser reads it by default: an HTML title with its relative links
    resolved and its markup sanitized (feeds.parse turns both off for the rest of the entry)."""
    title = e.get("title", "")
    detail = e.get("title_detail") or {}
    kind = detail.get("type", "")
    if title and kind in _HTML_TYPES:
        title = _sanitize_html(
            resolve_relative_uris(title, detail.get("base", ""), encoding, kind), encoding, kind
        )
    return title


def _entry(e: feedparser.FeedParserDict, encoding: str) -> FeedEntry:
    link = e.get("link") or ""
    entry_id = str(e.get("id") or "")
    if e.get("guidislink") and not link.startswith(("http://", "https://")):
        link = ""  # feedparser made the id (a tag: or urn: one) the link: it is no place to read
    if not link and entry_id.startswith(("http://", "https://")):
        link = entry_id
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
        id=entry_id.strip(),
        title=_title(e, encoding),
        summary_html=e.get("summary", ""),
        content_html=content,
        published=published,
    )
