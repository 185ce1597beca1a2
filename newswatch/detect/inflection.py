"""English word forms for vocabulary phrases, generated when the vocabulary is built.

Matching stays one exact Aho-Corasick pass: instead of guessing suffixes on the text at scan time
("bar" + "red"? "bard"?), every English word of an action, cue or audience phrase is expanded into the
inflections of its lemmas ("terminate" -> terminates, terminated, terminating; "withhold" -> withheld;
"developer" -> developers). LemmInflect does both steps from data it ships: a dictionary of lemmas and
inflections of English words, regular and irregular, and a small model for words it does not know
("geoblock", "delist"). Only noun and verb forms are generated; adjective and adverb forms ("finer",
"earliest") would only add false matches.

Loading LemmInflect's dictionaries takes about a second, and every crawl process builds the
vocabulary, so the forms of the built-in vocabulary's words are kept in ``word_forms.json`` beside it
(regenerate with ``python -m newswatch.detect.inflection`` after editing ``vocabulary.toml``; a test
says when it is stale). Words only an operator's ``[vocabulary]`` adds are inflected with LemmInflect
itself, loaded on first use.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

TABLE = "word_forms.json"
_UPOS = ("VERB", "NOUN", "AUX")
_MIN_WORD = 3  # "ai", "eu", "in": too short to inflect, and mostly not open-class words
_MIN_UNKNOWN_WORD = 5  # guess forms of unknown words only when long enough to be a real stem
MAX_FORMS_PER_PHRASE = 64  # "stop offering services": every word inflects; cap the product


def phrase_forms(phrase: str) -> list[str]:
    """Every combination of the word forms of ``phrase`` (single spaces, lower case), the phrase first.

    Beyond ``MAX_FORMS_PER_PHRASE`` combinations only the first word is inflected: the head of the
    verb phrases that make up most of the vocabulary ("cut off", "stop serving").
    """
    words = phrase.split(" ")
    options = [word_forms(word) for word in words]
    total = 1
    for forms in options:
        total *= len(forms)
    if total > MAX_FORMS_PER_PHRASE:
        options = [options[0], *([word] for word in words[1:])]
    combos = {" ".join(parts) for parts in itertools.product(*options)}
    combos.discard(phrase)
    return [phrase, *sorted(combos)]


@cache
def word_forms(word: str) -> tuple[str, ...]:
    """``word`` and the noun and verb inflections of its lemmas, sorted (``word`` is lower case)."""
    head, dash, last = word.rpartition("-")
    if dash:  # "geo-block": the last part inflects
        return tuple(f"{head}-{form}" for form in word_forms(last))
    if not inflectable(word):
        return (word,)
    known = _table().get(word)
    return known if known is not None else generate(word)


def inflectable(word: str) -> bool:
    return len(word) >= _MIN_WORD and word.isascii() and word.isalpha()


def generate(word: str) -> tuple[str, ...]:
    """The forms of ``word`` according to LemmInflect (imported here: its data loads on first use)."""
    import lemminflect

    forms = {word}
    lemmas = lemminflect.getAllLemmas(word)
    if lemmas:
        for upos in _UPOS:
            for lemma in lemmas.get(upos, ()):
                forms.add(lemma)
                for inflected in lemminflect.getAllInflections(lemma, upos=upos).values():
                    forms.update(inflected)
    elif len(word) >= _MIN_UNKNOWN_WORD:
        for upos in ("VERB", "NOUN"):
            for inflected in lemminflect.getAllInflectionsOOV(word, upos=upos).values():
                forms.update(inflected)
    return tuple(sorted(form.lower() for form in forms))


@lru_cache(maxsize=1)
def _table() -> dict[str, tuple[str, ...]]:
    text = resources.files(__package__).joinpath(TABLE).read_text(encoding="utf-8")
    return {word: tuple(forms) for word, forms in json.loads(text).items()}


def table_for(words: Iterable[str]) -> dict[str, list[str]]:
    """The table ``word_forms.json`` holds for these vocabulary words, freshly generated."""
    plain = {part for word in words for part in word.split("-") if inflectable(part)}
    return {word: list(generate(word)) for word in sorted(plain)}


def main() -> None:
    """Regenerate ``word_forms.json`` from the built-in vocabulary."""
    from .vocabulary import builtin_inflected_words

    path = Path(__file__).with_name(TABLE)
    table = table_for(builtin_inflected_words())
    lines = ",\n".join(f"{json.dumps(word)}: {json.dumps(forms)}" for word, forms in table.items())
    path.write_text("{\n" + lines + "\n}\n", encoding="utf-8")
    print(f"{path}: {len(table)} words")


if __name__ == "__main__":
    main()
