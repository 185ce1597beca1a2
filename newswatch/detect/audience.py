"""For whom a restriction applies: consumers, developers, individual developers, enterprises,
government devices, or companies by their ownership (``newswatch.models.AUDIENCES``).

The classifier hands over the audience phrases it found in the lead (title, deciding sentence, first
paragraph) and where exemption cues sit. A phrase in the same clause as an exemption ("enterprise
customers are not affected", "仅企业客户可继续使用") names who is spared, not who is hit. The rest
follows how reports are written: "individual developers" is the narrower claim and replaces
"developers"; an ownership rule hits companies by who controls them, not enterprises in general; when
a report names a narrower group, its passing mention of "users" is not a separate audience; and when it
names nobody, the service's own audience stands in (an app's users, an API's developers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Clause ends inside a sentence: commas and colons, and conjunctions that turn to a new subject.
_CLAUSE_BREAK_RE = re.compile(r"[,，;；:：、(（]|\b(?:while|but|whereas|although|though)\b|但|而|只是|不过")
_NARROWER = {
    "developers": ("individual-developers",),
    "enterprises": ("ownership", "individual-developers"),
    "consumers": ("developers", "individual-developers", "government-devices", "ownership"),
}


@dataclass(frozen=True)
class Mention:
    value: str
    start: int
    end: int


def audience(
    text: str,
    sentences: Iterable[tuple[int, int]],
    mentions: Iterable[Mention],
    exemptions: Iterable[tuple[int, int]],
    fallback: Iterable[str] = (),
) -> tuple[str, ...]:
    """The audience of the lead event, sorted.

    ``sentences`` are the (start, end) spans of the lead in ``text``; ``mentions`` the audience
    phrases in them, ``exemptions`` the exemption cues; ``fallback`` the audiences of the services
    named, used when the lead names none.
    """
    spans = list(sentences)
    spared = [_clause(text, spans, start) for start, _ in exemptions]
    found = {mention.value for mention in mentions if _clause(text, spans, mention.start) not in spared}
    for broad, narrower in _NARROWER.items():
        if broad in found and found.intersection(narrower):
            found.discard(broad)
    return tuple(sorted(found or set(fallback)))


def _clause(text: str, spans: list[tuple[int, int]], position: int) -> tuple[int, int]:
    """The (start, end) of the clause around ``position``, within its sentence."""
    for start, end in spans:
        if start <= position < end:
            breaks = [m.start() for m in _CLAUSE_BREAK_RE.finditer(text, start, end)]
            left = max((b for b in breaks if b <= position), default=start)
            right = min((b for b in breaks if b > position), default=end)
            return left, right
    return position, position
