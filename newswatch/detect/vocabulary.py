"""The detection vocabulary: built-in TOML data, extended by the operator's ``[vocabulary]`` table.

Every alias of every category is compiled into one Aho-Corasick automaton, so a text is scanned once
whatever the size of the vocabulary. English terms match whole words only; the English words of
action, cue and audience phrases are expanded into their inflections when the vocabulary is built
(``inflection``), so "ban" finds "bans" and "banned", "withhold" finds "withheld", and nothing finds
"bank". A phrase whose tense is its meaning is written with a leading "=" and kept as it is
("=had been": about an earlier time, unlike "have been").

A phrase written with an ellipsis is a *frame*: its parts must occur in that order in one clause, a
few words apart (``FRAME_GAP``). Chinese verb phrases wrap around their object or place
("停止…提供" finds 停止向中国大陆个人开发者提供, "暂停…提供" finds 暂停在韩国提供), and a few frames
replace the long lists of every filled-in variant.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, NamedTuple

import ahocorasick

from ..models import AUDIENCES
from .inflection import phrase_forms
from .text import is_word_char, normalize

ACTIONS = ("block", "ban", "suspend", "discontinue", "restrict", "lift")
INFLECTED = frozenset({"action", "cue", "audience"})  # categories whose English words inflect
OWN_LAYER = frozenset({"audience"})  # categories whose overlapping matches are chosen apart (``scan``)
NAMES = frozenset({"provider", "service", "region", "weak_region", "place", "ignore"})
FRAME_MARK = "..."  # what "…" becomes after NFKC
EXACT_MARK = "="  # an alias written "=had been" is not inflected
# characters between the parts of a frame: an object or a place, not a clause (English words are
# longer than Chinese characters: "keep AI tools such as ChatGPT and DeepSeek off")
FRAME_GAP = 16
FRAME_GAP_LATIN = 40
_CLAUSE_BREAK_RE = re.compile(r"[。！？；!?;\n，,：:、]")
_WORD_CHARS = frozenset(string.ascii_lowercase + string.digits)


class VocabularyError(ValueError):
    """A malformed vocabulary entry, phrased for the operator."""


@dataclass(frozen=True)
class Term:
    """What a matched alias means: (category, value), e.g. ("region", "CN") or ("cue", "outage")."""

    category: str
    value: str


class Match(NamedTuple):
    """Where an alias was found and what it means (a tuple: scans make dozens per article)."""

    start: int
    end: int
    term: Term


@dataclass
class Vocabulary:
    provider_is_ai: dict[str, bool] = field(default_factory=dict)
    provider_home: dict[str, str] = field(default_factory=dict)  # where the company comes from
    service_providers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    service_audience: dict[str, tuple[str, ...]] = field(default_factory=dict)  # whom it serves
    provider_api: dict[str, str] = field(default_factory=dict)  # the service "its API" means
    regions: set[str] = field(default_factory=set)  # the region codes: ISO 3166-1 alpha-2 and EU
    labels: dict[str, str] = field(default_factory=dict)  # provider slug or service name -> its first alias
    _terms: dict[str, set[Term]] = field(default_factory=dict)
    _frames: dict[tuple[str, ...], set[Term]] = field(default_factory=dict)
    _part_forms: dict[str, set[str]] = field(default_factory=dict)  # inflections of frame parts
    _automaton: Any = None
    # per frame: its parts (as part numbers), its terms, and how far apart its parts may be
    _frame_terms: list[tuple[tuple[int, ...], tuple[Term, ...], int]] = field(default_factory=list)
    _frames_from: dict[int, list[int]] = field(default_factory=dict)  # first part -> its frames
    inflected_words: set[str] = field(default_factory=set)  # English words given their inflections

    def add(self, alias: str, term: Term) -> None:
        """Add ``alias`` for ``term``; an alias starting with "=" is matched as written, never
        inflected ("=had been" must not become "have been")."""
        exact = alias.startswith(EXACT_MARK)
        key = normalize(alias.removeprefix(EXACT_MARK))
        if not key or len(key) > 100:
            raise VocabularyError(f"vocabulary: alias {alias!r} must be 1 to 100 characters")
        if FRAME_MARK in key:
            parts = tuple(part.strip() for part in key.split(FRAME_MARK))
            if len(parts) < 2 or not all(parts):
                raise VocabularyError(f"vocabulary: frame {alias!r} needs words on both sides of …")
            self._frames.setdefault(parts, set()).add(term)
            if term.category in INFLECTED and not exact:
                self.inflected_words.update(word for part in parts for word in part.split(" "))
                for part in parts:
                    self._part_forms.setdefault(part, set()).update(phrase_forms(part))
        elif term.category in INFLECTED and not exact:
            self.inflected_words.update(key.split(" "))
            for form in phrase_forms(key):
                self._terms.setdefault(form, set()).add(term)
        else:
            self._terms.setdefault(key, set()).add(term)
            if term.category == "region" and key[-1] in _WORD_CHARS and key[-1] != "s":
                self._terms.setdefault(f"{key}s", set()).add(term)  # demonyms: "Australians"
        self._automaton = None

    def meaning(self, name: str) -> frozenset[Term]:
        """What ``name`` means when it is a whole alias ("DeepSeek app" -> the service "deepseek")."""
        return frozenset(self._terms.get(normalize(name), ()))

    def compile(self) -> None:
        """One automaton over every key; each value carries what ``scan`` needs without recomputing:
        the key's length, whether it must start and end on a word boundary, its terms (audience terms
        apart, see ``scan``), and the frame parts it is a form of. A part shared by many frames ("提供")
        is recorded once per occurrence, and the frames are then found from their first parts."""
        part_ids: dict[str, int] = {}
        for parts in self._frames:
            for part in parts:
                part_ids.setdefault(part, len(part_ids))
        form_parts: dict[str, set[int]] = {}
        for part, part_id in part_ids.items():
            for form in self._part_forms.get(part, {part}):
                form_parts.setdefault(form, set()).add(part_id)
        automaton = ahocorasick.Automaton()
        for key in self._terms.keys() | form_parts.keys():
            terms = sorted(self._terms.get(key, ()), key=lambda t: (t.category, t.value))
            automaton.add_word(
                key,
                (
                    len(key),
                    is_word_char(key[0]),
                    is_word_char(key[-1]),
                    tuple(t for t in terms if t.category not in OWN_LAYER),
                    tuple(t for t in terms if t.category in OWN_LAYER),
                    any(t.category in NAMES for t in terms),
                    tuple(sorted(form_parts.get(key, ()))),
                ),
            )
        automaton.make_automaton()
        self._automaton = automaton
        self._frame_terms = []
        self._frames_from = {}
        for index, (parts, terms) in enumerate(self._frames.items()):
            gap = FRAME_GAP_LATIN if parts[0].isascii() else FRAME_GAP
            ids = tuple(part_ids[part] for part in parts)
            ordered = tuple(sorted(terms, key=lambda t: (t.category, t.value)))
            self._frame_terms.append((ids, ordered, gap))
            self._frames_from.setdefault(ids[0], []).append(index)

    def scan(self, text: str) -> list[Match]:
        """Leftmost-longest matches of aliases in normalized ``text`` ("north korea" wins over "korea"),
        then the frames found in it (which overlap the words they wrap, by design).

        Word boundaries are checked before choosing, so a rejected long candidate ("launches in" inside
        "launches investigation") does not hide a valid one that overlaps it. Audience phrases are
        chosen among themselves and names: whom a sentence names does not compete with what it says
        is done to them ("orders DeepSeek off all government devices": "off all government" and
        "government devices"), but a name still holds its characters ("美国企业家" is no "国企").
        """
        if self._automaton is None:
            self.compile()
        size = len(text)
        spans: list[tuple[int, int, tuple[Term, ...]]] = []
        own: list[tuple[int, int, tuple[Term, ...]]] = []
        part_hits: dict[int, list[tuple[int, int, int]]] = {}  # part -> (hit number, start, end)
        for seq, (end_index, (length, left, right, terms, own_terms, name, parts)) in enumerate(
            self._automaton.iter(text)
        ):
            start, end = end_index - length + 1, end_index + 1
            if left and start and text[start - 1] in _WORD_CHARS:
                continue
            if right and end < size and text[end] in _WORD_CHARS:
                continue
            if terms:
                spans.append((start, -end, terms))
            if own_terms or name:
                own.append((start, -end, own_terms))
            for part in parts:
                part_hits.setdefault(part, []).append((seq, start, end))
        matches = _leftmost_longest(spans) + _leftmost_longest(own)
        for _, frame in sorted(self._complete_frames(part_hits)):
            ids, terms, gap = self._frame_terms[frame]
            found = sorted(
                (seq, position, start, end)
                for position, part in enumerate(ids)
                for seq, start, end in part_hits[part]
            )
            for start, end in _frame_spans(text, len(ids), found, gap):
                matches.extend([Match(start, end, term) for term in terms])
        return matches

    def _complete_frames(self, part_hits: dict[int, list[tuple[int, int, int]]]) -> Iterator[tuple[int, int]]:
        """(first hit of any of its parts, frame index) of each frame all of whose parts were found:
        frames are matched in the order the text first touches them."""
        for first in part_hits:
            for frame in self._frames_from.get(first, ()):
                ids = self._frame_terms[frame][0]
                if all(part in part_hits for part in ids):
                    yield min(part_hits[part][0][0] for part in ids), frame


def _leftmost_longest(spans: list[tuple[int, int, tuple[Term, ...]]]) -> list[Match]:
    """Of overlapping (start, -end, terms) candidates, the one starting first, then the longest."""
    spans.sort()
    matches: list[Match] = []
    taken = 0
    for start, negative_end, terms in spans:
        if start >= taken:
            taken = -negative_end
            for term in terms:
                matches.append(Match(start, taken, term))
    return matches


def _frame_spans(
    text: str, count: int, found: list[tuple[int, int, int, int]], gap: int
) -> Iterator[tuple[int, int]]:
    """Where all ``count`` parts of a frame follow each other within ``gap`` characters and no clause
    break; ``found`` lists (hit number, part index, start, end) in text order."""
    for _, position, start, end in found:
        if position != 0:
            continue
        cursor = end
        for wanted in range(1, count):
            following = next(
                (
                    e
                    for _, p, s, e in found
                    if p == wanted
                    and cursor <= s <= cursor + gap
                    and not _CLAUSE_BREAK_RE.search(text, cursor, s)
                ),
                None,
            )
            if following is None:
                break
            cursor = following
        else:
            yield start, cursor


def _builtin() -> dict[str, Any]:
    data = resources.files(__package__).joinpath("vocabulary.toml").read_text(encoding="utf-8")
    return tomllib.loads(data)


def builtin_inflected_words() -> set[str]:
    """The English words of the built-in vocabulary that ``inflection`` expands."""
    vocab = Vocabulary()
    _merge(vocab, _builtin())
    return vocab.inflected_words


def build(extra: Mapping[str, Any] | None = None) -> Vocabulary:
    """The built-in vocabulary, extended (never replaced) by ``extra`` from config.toml."""
    vocab = Vocabulary()
    for data in (_builtin(), extra or {}):
        _merge(vocab, data)
    vocab.compile()
    return vocab


def _merge(vocab: Vocabulary, data: Mapping[str, Any]) -> None:
    for slug, entry in _entries(data, "providers"):
        vocab.provider_is_ai[slug] = bool(entry.get("ai", vocab.provider_is_ai.get(slug, False)))
        if "home" in entry:
            vocab.provider_home[slug] = str(entry["home"])
        if "api" in entry:
            vocab.provider_api[slug] = str(entry["api"])
        aliases = _aliases(entry, f"providers.{slug}")
        vocab.labels.setdefault(slug, aliases[0] if aliases else slug)
        for alias in [slug, *aliases]:
            vocab.add(alias, Term("provider", slug))
    for name, entry in _entries(data, "services"):
        providers = tuple(entry.get("providers", vocab.service_providers.get(name, ())))
        unknown = [p for p in providers if p not in vocab.provider_is_ai]
        if unknown:
            raise VocabularyError(f"vocabulary.services.{name}.providers: unknown provider {unknown[0]!r}")
        vocab.service_providers[name] = tuple(sorted(providers))
        audience = _strings(entry.get("audience", []), f"services.{name}.audience")
        if unknown_audience := [a for a in audience if a not in AUDIENCES]:
            raise VocabularyError(f"vocabulary.services.{name}.audience: unknown {unknown_audience[0]!r}")
        if audience:
            vocab.service_audience[name] = tuple(sorted(audience))
        aliases = _aliases(entry, f"services.{name}")
        vocab.labels.setdefault(name, aliases[0] if aliases else name)
        for alias in [name, *aliases]:
            vocab.add(alias, Term("service", name))
    for slug, entry in _entries(data, "places"):
        region = entry.get("region", "")
        for alias in _aliases(entry, f"places.{slug}"):
            vocab.add(alias, Term("place", slug))
            vocab.add(alias, Term("region", region))
        for alias in _strings(entry.get("weak", []), f"places.{slug}.weak"):
            vocab.add(alias, Term("place", slug))
            vocab.add(alias, Term("weak_region", region))
    for code, entry in _entries(data, "regions"):
        if not (code == "EU" or (len(code) == 2 and code.isalpha() and code.isupper())):
            raise VocabularyError(f"vocabulary.regions.{code}: must be an ISO 3166-1 alpha-2 code or EU")
        vocab.regions.add(code)
        for alias in _aliases(entry, f"regions.{code}"):
            vocab.add(alias, Term("region", code))
        for alias in _strings(entry.get("weak", []), f"regions.{code}.weak"):
            vocab.add(alias, Term("weak_region", code))
    for phrase in _strings(data.get("ignore", {}).get("terms", []), "ignore.terms"):
        vocab.add(phrase, Term("ignore", ""))
    for name in _strings(data.get("languages", {}).get("names", []), "languages.names"):
        vocab.add(name, Term("language", ""))
    for section, category, allowed in (
        ("actions", "action", ACTIONS),
        ("audiences", "audience", AUDIENCES),
        ("cues", "cue", None),
    ):
        table = data.get(section, {})
        for name, phrases in table.items():
            if allowed is not None and name not in allowed:
                raise VocabularyError(
                    f"vocabulary.{section}.{name}: unknown {category} (allowed: {', '.join(allowed)})"
                )
            for phrase in _strings(phrases, f"{section}.{name}"):
                vocab.add(phrase, Term(category, name))


def _entries(data: Mapping[str, Any], section: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    table = data.get(section, {})
    if not isinstance(table, Mapping):
        raise VocabularyError(f"vocabulary.{section}: must be a table")
    for key, entry in table.items():
        if not isinstance(entry, Mapping):
            raise VocabularyError(f"vocabulary.{section}.{key}: must be a table with aliases = [...]")
        yield key, entry


def _aliases(entry: Mapping[str, Any], label: str) -> list[str]:
    return _strings(entry.get("aliases", []), f"{label}.aliases")


def _strings(value: object, label: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise VocabularyError(f"vocabulary.{label}: must be a list of strings")
    return value
