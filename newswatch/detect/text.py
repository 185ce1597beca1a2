"""Text normalization shared by the classifier, the keyword matcher and the duplicate detector.

Matching runs on one canonical form: HTML entities and tags removed, NFKC (full-width letters and
punctuation become ASCII), Traditional Chinese and Taiwan phrasing converted to Simplified mainland
forms with OpenCC, lower case, single spaces. The vocabulary is written in that form too.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import opencc

MAX_DETECT_CHARS = 20_000  # longer bodies add nothing to detection but cost time
# Characters of the body read first: the lead and a little more. Outlets put the event there, and
# reposts copy it, so detection starts from it and story keys are made of it alone.
OPENING_CHARS = 1_000

_TAG_RE = re.compile(r"<[^>]{0,2000}>")
_SPACE_RE = re.compile(r"[^\S\n]+")
_NEWLINES_RE = re.compile(r"\s*\n\s*")
# Sentence ends: CJK and ASCII terminators, line breaks, and a period followed by a space unless the
# period closes a one-letter abbreviation ("U.S. bans ...") or a month, title or company ("Oct. 21",
# "Gov. Abbott", "Apple Inc. said").
_ABBREVIATIONS = (
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "mr", "mrs", "ms", "dr", "gov", "sen", "rep", "gen", "lt", "col", "sgt", "st", "vs", "inc",
    "corp", "ltd", "jr", "prof", "dept",
)  # fmt: skip
_SENTENCE_END_RE = re.compile(
    r"[。！？；!?;\n]+|\.(?=\s)(?<![\s.][a-z]\.)" + "".join(rf"(?<!\b{word}\.)" for word in _ABBREVIATIONS)
)


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("tw2sp")


@lru_cache(maxsize=1)
def _compatibility_chars() -> tuple[re.Pattern[str], dict[str, str]]:
    """The BMP characters NFKC changes on their own (full-width "，（）：", ideographic space, ...), and
    what each becomes."""
    forms = {chr(cp): unicodedata.normalize("NFKC", chr(cp)) for cp in range(0x80, 0x10000)}
    changed = {char: form for char, form in forms.items() if form != char}
    return re.compile("[" + "".join(map(re.escape, changed)) + "]"), changed


def _nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, four times faster on Chinese news text: its full-width
    punctuation is replaced character by character, which leaves the NFKD form, and so the NFKC form,
    unchanged; only when the result is still not normalized (combining marks, characters beyond the
    BMP) does the full algorithm run on it."""
    pattern, changed = _compatibility_chars()
    text = pattern.sub(lambda m: changed[m[0]], text)
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


def normalize(text: str, limit: int = MAX_DETECT_CHARS, keep_newlines: bool = False) -> str:
    """The canonical matching form of ``text`` (see module docstring).

    ``keep_newlines`` keeps paragraph breaks, which end sentences in article bodies.
    """
    text = text[: limit * 2]
    if "<" in text:
        text = _TAG_RE.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    # NFKC is the costliest step and runs only where it changes something, on the window alone (it
    # shrinks text only where combining marks compose, which news text hardly has)
    text = text[:limit]
    if not unicodedata.is_normalized("NFKC", text):
        text = _nfkc(text)[:limit]
    if not text.isascii():
        text = _converter().convert(text)
    text = _SPACE_RE.sub(" ", text.lower())
    return (_NEWLINES_RE.sub("\n", text) if keep_newlines else _NEWLINES_RE.sub(" ", text)).strip()


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of normalized ``text``."""
    spans, start = [], 0
    for m in _SENTENCE_END_RE.finditer(text):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def is_word_char(ch: str) -> bool:
    """ASCII letters and digits join into words; CJK characters stand alone."""
    return ch.isascii() and ch.isalnum()


@dataclass(frozen=True)
class Lead:
    """An article's headline and the opening of its body in matching form, normalized once: the
    classifier reads it first and story keys are made of it."""

    title: str
    opening: str  # the first OPENING_CHARS of the body, paragraph breaks kept

    @classmethod
    def of(cls, title: str, text: str) -> Lead:
        return cls(normalize(title), normalize(text, OPENING_CHARS, keep_newlines=True))

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.opening}"
