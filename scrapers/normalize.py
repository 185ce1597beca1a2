"""Canonical URLs, language, clean text and UTC times: pure functions, no I/O."""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from parsel import Selector

BEIJING = timezone(timedelta(hours=8))
_TRACKING_PARAMS = re.compile(r"^(utm_[a-z_]+|fbclid|gclid|mc_cid|mc_eid|spm|from|ref|ref_src|cmpid)$")
_ITHOME_PATH = re.compile(r"^/0/(\d{3})/(\d{3})\.htm$")
_ITHOME_MOBILE = re.compile(r"^/html/(\d+)\.htm$")
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def ithome_news_id(url: str) -> int | None:
    """892248 from ``/0/892/248.htm`` (desktop) or ``/html/892248.htm`` (mobile), on any host."""
    path = urlsplit(url).path
    if m := _ITHOME_PATH.match(path):
        return int(m.group(1) + m.group(2))
    if m := _ITHOME_MOBILE.match(path):
        return int(m.group(1))
    return None


def ithome_canonical(news_id: int) -> str:
    digits = f"{news_id:06d}"
    return f"https://www.ithome.com/0/{digits[:-3]}/{digits[-3:]}.htm"


def canonical_url(url: str, kind: str = "rss") -> str:
    """The identity of an article: no tracking parameters or fragment, lower-case host, https for
    ITHome (whose mobile and desktop URLs name the same article)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").rstrip(".")  # lower-cased, without user info
    on_ithome = kind == "ithome" or host == "ithome.com" or host.endswith(".ithome.com")
    if on_ithome and (news_id := ithome_news_id(url)) is not None:
        return ithome_canonical(news_id)
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not _TRACKING_PARAMS.match(k.lower())
        ]
    )
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # not a number: leave the authority as it came
        port, host = None, parts.netloc.lower()
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def detect_lang(text: str, hint: str | None = None) -> str:
    """ "zh" when Chinese characters make up a fair share of the letters, else "en"."""
    sample = text[:2000]
    cjk = len(_CJK.findall(sample))
    latin = len(_LATIN.findall(sample))
    if cjk == 0 and latin == 0:
        return hint or "en"
    # a Chinese character carries about as much as a 3-letter English word
    return "zh" if cjk * 3 >= latin else "en"


def clean_text(text: str | None) -> str:
    """Entities decoded, NFC, spaces collapsed, at most one blank line between paragraphs."""
    if not text:
        return ""
    text = unicodedata.normalize(
        "NFC", html.unescape(html.unescape(text)) if "&amp;" in text else html.unescape(text)
    )
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r", "\n").split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def clean_line(text: str | None) -> str:
    return " ".join(clean_text(text).split())


def to_utc(value: datetime | None, assume: timezone = UTC) -> datetime | None:
    """Aware UTC; naive times are taken in ``assume`` (Beijing time for ITHome pages)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=assume)
    return value.astimezone(UTC)


def parse_time(text: str | None, assume: timezone = UTC) -> datetime | None:
    """RFC 822 (feeds), ISO 8601 (Atom, meta tags) or ``YYYY-MM-DD HH:MM[:SS]`` (ITHome pages)."""
    if not text:
        return None
    text = text.strip()
    try:
        return to_utc(parsedate_to_datetime(text), assume)
    except (TypeError, ValueError, IndexError):
        pass
    candidate = text.replace("Z", "+00:00").replace("/", "-")
    for fmt in (None, "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            parsed = datetime.fromisoformat(candidate) if fmt is None else datetime.strptime(candidate, fmt)
        except ValueError:
            continue
        return to_utc(parsed, assume)
    return None


def summarize(body: str, limit: int = 400) -> str:
    """The first paragraph or so, cut on a sentence end when possible."""
    first = body.strip().split("\n", 1)[0] if body else ""
    if len(first) <= limit:
        return first
    cut = first[:limit]
    end = max(cut.rfind(p) for p in ("。", ". ", "！", "? ", "！", "；"))
    return cut[: end + 1].strip() if end > limit // 3 else cut.rstrip() + "…"


def html_to_text(markup: str | None) -> str:
    """Paragraph text of an HTML fragment (a feed's description or content)."""
    if not markup:
        return ""
    if "<" not in markup:
        return clean_text(markup)
    sel = Selector(text=f"<div>{markup}</div>")
    blocks = [b.xpath("string()").get() for b in sel.css("p, li, h2, h3, blockquote")]
    text = "\n".join(b for b in blocks if b and b.strip()) or sel.xpath("string()").get()
    return clean_text(text)
