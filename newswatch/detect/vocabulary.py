"""The detection vocabulary: built-in TOML data, extended by the operator's ``[vocabulary]`` table.

Every alias of every category is compiled into one Aho-Corasick automaton, so a text is scanned once
whatever the size of the vocabulary. English terms only match on word boundaries, with common
inflections allowed after them ("ban" finds "bans", "banned", not "bank").
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import ahocorasick

from .text import is_word_char, normalize

ACTIONS = ("block", "ban", "suspend", "discontinue", "restrict", "lift")
_SUFFIXES = (
    "s",
    "es",
    "ed",
    "d",
    "ing",
    "ned",
    "ning",
    "ped",
    "ping",
    "ted",
    "ting",
    "ged",
    "ging",
    "red",
    "ring",
    "'s",
    "ns",
)


class VocabularyError(ValueError):
    """A malformed vocabulary entry, phrased for the operator."""


@dataclass(frozen=True)
class Term:
    """What a matched alias means: (category, value), e.g. ("region", "CN") or ("cue", "outage")."""

    category: str
    value: str


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    term: Term


@dataclass
class Vocabulary:
    provider_is_ai: dict[str, bool] = field(default_factory=dict)
    provider_home: dict[str, str] = field(default_factory=dict)  # where the company comes from
    service_providers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    regions: set[str] = field(default_factory=set)  # the region codes: ISO 3166-1 alpha-2 and EU
    labels: dict[str, str] = field(default_factory=dict)  # provider slug or service name -> its first alias
    _terms: dict[str, set[Term]] = field(default_factory=dict)
    _automaton: Any = None

    def add(self, alias: str, term: Term) -> None:
        key = normalize(alias)
        if not key or len(key) > 100:
            raise VocabularyError(f"vocabulary: alias {alias!r} must be 1 to 100 characters")
        self._terms.setdefault(key, set()).add(term)
        self._automaton = None

    def meaning(self, name: str) -> frozenset[Term]:
        """What ``name`` means when it is a whole alias ("DeepSeek app" -> the service "deepseek")."""
        return frozenset(self._terms.get(normalize(name), ()))

    def compile(self) -> None:
        automaton = ahocorasick.Automaton()
        for key, terms in self._terms.items():
            automaton.add_word(key, (key, tuple(sorted(terms, key=lambda t: (t.category, t.value)))))
        automaton.make_automaton()
        self._automaton = automaton

    def scan(self, text: str) -> list[Match]:
        """Leftmost-longest matches of aliases in normalized ``text`` ("north korea" wins over "korea").

        Word boundaries are checked before choosing, so a rejected long candidate ("launches in" inside
        "launches investigation") does not hide a valid one that overlaps it.
        """
        if self._automaton is None:
            self.compile()
        spans: list[tuple[int, int, bool, tuple[Term, ...]]] = []
        for end_index, (key, terms) in self._automaton.iter(text):
            start, end = end_index - len(key) + 1, end_index + 1
            if is_word_char(key[0]) and start > 0 and is_word_char(text[start - 1]):
                continue
            inflected = is_word_char(key[-1]) and end < len(text) and is_word_char(text[end])
            if inflected:
                end = _inflected_end(text, end)
                if end < 0:
                    continue
            spans.append((start, end, inflected, terms))
        # leftmost, then longest, then an exact alias before an inflected one ("bard" is not "bar"+"d")
        spans.sort(key=lambda span: (span[0], span[0] - span[1], span[2]))
        matches: list[Match] = []
        taken = 0
        for start, end, _, terms in spans:
            if start >= taken:
                matches.extend(Match(start, end, term) for term in terms)
                taken = end
        return matches


def _inflected_end(text: str, end: int) -> int:
    """The end of the word when ``text[end:]`` is an inflection suffix, else -1."""
    for suffix in _SUFFIXES:
        stop = end + len(suffix)
        if text.startswith(suffix, end) and (stop >= len(text) or not is_word_char(text[stop])):
            return stop
    return -1


def _builtin() -> dict[str, Any]:
    data = resources.files(__package__).joinpath("vocabulary.toml").read_text(encoding="utf-8")
    return tomllib.loads(data)


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
        aliases = _aliases(entry, f"services.{name}")
        vocab.labels.setdefault(name, aliases[0] if aliases else name)
        for alias in [name, *aliases]:
            vocab.add(alias, Term("service", name))
    for slug, entry in _entries(data, "places"):
        region = entry.get("region", "")
        for alias in _aliases(entry, f"places.{slug}"):
            vocab.add(alias, Term("place", slug))
            vocab.add(alias, Term("region", region))
    for code, entry in _entries(data, "regions"):
        if not (code == "EU" or (len(code) == 2 and code.isalpha() and code.isupper())):
            raise VocabularyError(f"vocabulary.regions.{code}: must be an ISO 3166-1 alpha-2 code or EU")
        vocab.regions.add(code)
        for alias in _aliases(entry, f"regions.{code}"):
            vocab.add(alias, Term("region", code))
    for phrase in _strings(data.get("ignore", {}).get("terms", []), "ignore.terms"):
        vocab.add(phrase, Term("ignore", ""))
    for section, category in (("actions", "action"), ("cues", "cue")):
        table = data.get(section, {})
        for name, phrases in table.items():
            if section == "actions" and name not in ACTIONS:
                raise VocabularyError(
                    f"vocabulary.actions.{name}: unknown action (allowed: {', '.join(ACTIONS)})"
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
