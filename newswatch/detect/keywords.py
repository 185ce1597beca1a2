"""Watched keywords: literal, case-insensitive phrases matched in one pass.

Operators and subscribers write plain phrases, never regular expressions, so no input can make
matching slow; phrases are normalized like the text (full-width, Traditional Chinese, case).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import ahocorasick

from .text import is_word_char, normalize

MAX_KEYWORD_CHARS = 100
MIN_KEYWORD_ALNUM = 2  # "a" or "!!!" would match nearly every story
# Bidi controls and zero-width characters: invisible, they make a keyword look like another one
# (or reverse how a reply reads), and they never occur inside the words of an article.
_INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def keyword_form(raw: str) -> str:
    """How a keyword is matched: invisible characters dropped, then normalized like the text."""
    return normalize(_INVISIBLE.sub("", raw))


def clean_keyword(raw: str) -> str:
    """The stored form of a new keyword, or ValueError with a reason a user can act on."""
    keyword = keyword_form(raw)
    if sum(ch.isalnum() for ch in keyword) < MIN_KEYWORD_ALNUM:
        raise ValueError(f"a keyword needs at least {MIN_KEYWORD_ALNUM} letters or digits")
    if len(keyword) > MAX_KEYWORD_CHARS:
        raise ValueError(f"a keyword can be at most {MAX_KEYWORD_CHARS} characters")
    return keyword


class KeywordMatcher:
    """Finds which of a fixed set of keywords occur in a text (as whole words for Latin script)."""

    def __init__(self, keywords: Iterable[str]):
        # keyword_form, not clean_keyword: a keyword stored under older, laxer rules still matches
        self.keywords = tuple(dict.fromkeys(k for k in map(keyword_form, keywords) if k))
        self._automaton = ahocorasick.Automaton()
        for keyword in self.keywords:
            self._automaton.add_word(keyword, keyword)
        if self.keywords:
            self._automaton.make_automaton()

    def __bool__(self) -> bool:
        return bool(self.keywords)

    def find(self, normalized_text: str) -> tuple[str, ...]:
        """The keywords present in ``normalized_text`` (already passed through ``normalize``)."""
        if not self.keywords:
            return ()
        found: dict[str, None] = {}
        for end_index, keyword in self._automaton.iter(normalized_text):
            start, end = end_index - len(keyword) + 1, end_index + 1
            if is_word_char(keyword[0]) and start > 0 and is_word_char(normalized_text[start - 1]):
                continue
            if (
                is_word_char(keyword[-1])
                and end < len(normalized_text)
                and is_word_char(normalized_text[end])
            ):
                continue
            found[keyword] = None
        return tuple(found)
