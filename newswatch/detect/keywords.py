"""Watched keywords: literal, case-insensitive phrases matched in one pass.

Operators and subscribers write plain phrases, never regular expressions, so no input can make
matching slow; phrases are normalized like the text (full-width, Traditional Chinese, case).
"""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick

from .text import is_word_char, normalize

MAX_KEYWORD_CHARS = 100


def clean_keyword(raw: str) -> str:
    """The stored form of a keyword, or ValueError with a reason a user can act on."""
    keyword = normalize(raw)
    if not keyword:
        raise ValueError("a keyword needs at least one letter or character")
    if len(keyword) > MAX_KEYWORD_CHARS:
        raise ValueError(f"a keyword can be at most {MAX_KEYWORD_CHARS} characters")
    return keyword


class KeywordMatcher:
    """Finds which of a fixed set of keywords occur in a text (as whole words for Latin script)."""

    def __init__(self, keywords: Iterable[str]):
        self.keywords = tuple(dict.fromkeys(clean_keyword(k) for k in keywords))
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
