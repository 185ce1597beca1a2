"""Canonical and shown URLs, language, clean text and UTC times: pure functions, no I/O."""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lxml import etree
from lxml.html import HTMLParser

BEIJING = timezone(timedelta(hours=8))
# Identity drops what only says where a reader came from (spm, from, ref too: they never name another
# article); the link shown to users keeps those, since some sites need them, and drops only trackers.
_TRACKING_PARAMS = re.compile(r"^(utm_[a-z_]+|fbclid|gclid|mc_cid|mc_eid|spm|from|ref|ref_src|cmpid)$")
_TRACKERS = re.compile(r"^(utm_[a-z_]+|fbclid|gclid|mc_cid|mc_eid|ref_src|cmpid)$", re.I)
_ITHOME_PATH = re.compile(r"^/0/(\d{3})/(\d{3})\.htm$")
_ITHOME_MOBILE = re.compile(r"^/html/(\d+)\.htm$")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_LATIN = re.compile(r"[A-Za-z]")
# runs of two or more, or one that is not a plain space (a plain space alone stays as it is)
_SPACES = re.compile(r"[ \t\u00a0\u3000]{2,}|[\t\u00a0\u3000]")
_ODD_SPACES = ("  ", "\t", "\u00a0", "\u3000")  # what _SPACES can match
_BLANK_LINES = re.compile(r"\n\s*\n+")
# C0 controls but tab, newline and carriage return; DEL and C1; lone surrogates. They reach the
# terminal from `newswatch crawl` (escape sequences), and PostgreSQL refuses NUL in text.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_URL_CONTROLS = re.compile(r"[\x00-\x20\x7f-\x9f\ud800-\udfff]")  # and whitespace: never part of a URL
_SENTENCE = re.compile(r"^(.+?(?:[.!?](?=\s|$)|[。！？]))")
# html_to_text: lxml directly (parsel's Selector costs twice as much), one parser for the process
_HTML_PARSER = HTMLParser(recover=True, encoding="utf-8", huge_tree=True)
_BLOCKS = etree.XPath(
    " | ".join(f"descendant-or-self::{tag}" for tag in ("p", "li", "h2", "h3", "blockquote"))
)
_NOT_TEXT = ("script", "style", "applet")  # what feedparser's sanitizer drops with its content


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


def clean_url(url: str | None) -> str:
    """A URL from a feed or page without control characters or whitespace (as browsers read it)."""
    return _URL_CONTROLS.sub("", url or "")


def shown_link(url: str) -> str:
    """The link as published, for users: tracking parameters removed, everything else as written
    (``?item`` stays ``?item``, parameters keep their order and spelling)."""
    base, hash_, fragment = url.partition("#")
    path, question, query = base.partition("?")
    if not question:
        return url
    kept = [p for p in query.split("&") if p and not _TRACKERS.match(p.split("=", 1)[0])]
    return path + ("?" + "&".join(kept) if kept else "") + hash_ + fragment


def canonical_url(url: str, kind: str = "rss") -> str:
    """The identity of an article: no tracking parameters or fragment, lower-case host, https for
    ITHome (whose mobile and desktop URLs name the same article)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").rstrip(".")  # lower-cased, without user info or IPv6 brackets
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
        host = f"[{host}]" if ":" in host else host
    except ValueError:  # not a number: leave the authority as it came
        port, host = None, parts.netloc.lower()
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def detect_lang(text: str, hint: str | None = None) -> str:
    """One of ``models.LANGS`` from the script that carries most of the text: Han characters are zh,
    unless kana make up a tenth of the East Asian characters (ja); Hangul is ko; Latin letters are
    en; other letters (Cyrillic, Arabic, Thai...) are "other". Without letters: the hint, else "en"."""
    sample = text[:2000]
    if sample.isascii():  # what the counts below come to for ASCII, at C speed
        return "en" if _LATIN.search(sample) else hint or "en"
    han, kana, hangul = (len(p.findall(sample)) for p in (_HAN, _KANA, _HANGUL))
    latin = len(_LATIN.findall(sample))
    letters = sum(map(str.isalpha, sample))  # no Python frame per character
    other = letters - han - kana - hangul - latin
    if letters == 0:
        return hint or "en"
    # a Han or kana character carries about as much as a 3-letter English word, a Hangul syllable 2
    weights = {"cjk": (han + kana) * 3, "ko": hangul * 2, "en": latin, "other": other}
    best = max(weights, key=lambda k: weights[k])
    if best == "cjk":
        return "ja" if kana * 10 >= han + kana else "zh"
    return best


def clean_text(text: str | None) -> str:
    """Entities decoded, control characters removed, NFC, spaces collapsed, at most one blank line
    between paragraphs."""
    if not text:
        return ""
    text = html.unescape(html.unescape(text)) if "&amp;" in text else html.unescape(text)
    text = unicodedata.normalize("NFC", _CONTROLS.sub("", text))
    text = text.replace("\r", "\n")
    if any(space in text for space in _ODD_SPACES):  # most text has none: no regex scan at all
        text = _SPACES.sub(" ", text)  # one pass: no space class includes a newline
    lines = [line.strip() for line in text.split("\n")]
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


def headline(text: str, limit: int = 120) -> str:
    """A title for an entry that has none: the first sentence of its text, or its start."""
    first = clean_line(text.strip().split("\n", 1)[0] if text else "")
    if m := _SENTENCE.match(first):
        first = m.group(1)
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def html_to_text(markup: str | None) -> str:
    """Paragraph text of an HTML fragment (a feed's description or content). What a browser never
    shows as text (scripts, styles) is left out: feeds.parse does not sanitize the HTML."""
    if not markup:
        return ""
    if "<" not in markup:
        return clean_text(markup)
    root = etree.fromstring(f"<div>{markup}</div>".replace("\x00", "").encode("utf-8"), parser=_HTML_PARSER)
    etree.strip_elements(root, *_NOT_TEXT, with_tail=False)
    blocks = ["".join(b.itertext()) for b in _BLOCKS(root)]
    text = "\n".join(b for b in blocks if b.strip()) or "".join(root.itertext())
    return clean_text(text)
