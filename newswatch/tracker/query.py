"""Which records a question is about: provider, service and region names resolved by the vocabulary.

"deepseek", "DeepSeek app", "深度求索" and "DEEPSEEK" all name DeepSeek; "CN", "cn", "China" and
"中国" all name mainland China. A provider matches its own records and those of its services; a
service matches its records and those of its providers as a whole (an OpenAI-wide restriction
applies to ChatGPT too).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from ..config import Config, ConfigError
from ..detect.vocabulary import Vocabulary, VocabularyError, build
from .model import Record


class UnknownName(ValueError):
    """A provider, service or region the vocabulary does not know; the message says which."""


@dataclass(frozen=True)
class Filter:
    """A narrowed question: a provider slug or service name, a region code, or both."""

    provider: str | None = None
    region: str | None = None


def vocabulary_for(config: Config | None) -> Vocabulary:
    """The built-in vocabulary extended by the config's ``[vocabulary]``, built once per content."""
    extra = config.vocabulary if config is not None else {}
    try:
        return _vocabulary(json.dumps(extra, sort_keys=True, default=str))
    except VocabularyError as exc:
        raise ConfigError(f"{config.path if config else 'vocabulary'}: {exc}") from None


@lru_cache(maxsize=8)
def _vocabulary(extra: str) -> Vocabulary:
    return build(json.loads(extra))


def label(name: str, vocabulary: Vocabulary | None = None) -> str:
    """How a provider or service is written for people: "openai api" -> "OpenAI API"."""
    return (vocabulary or vocabulary_for(None)).labels.get(name, name)


def resolve(text: str, vocabulary: Vocabulary | None = None) -> Filter:
    """One word of a question (``/tracker deepseek``, ``/tracker CN``) as a filter.

    A region code wins ("IT" is Italy), then provider and service names, then region names."""
    vocabulary = vocabulary or vocabulary_for(None)
    text = text.strip()
    if text.upper() in vocabulary.regions:
        return Filter(region=text.upper())
    try:
        return Filter(provider=resolve_provider(text, vocabulary))
    except UnknownName:
        pass
    try:
        return Filter(region=resolve_region(text, vocabulary))
    except UnknownName:
        raise UnknownName(f"unknown provider, service or region {text!r}") from None


def resolve_provider(text: str, vocabulary: Vocabulary | None = None) -> str:
    """The provider slug or service name ``text`` names; the provider when it is both ("DeepSeek",
    "Claude"), so that the question covers all of it."""
    vocabulary = vocabulary or vocabulary_for(None)
    terms = vocabulary.meaning(text)
    for category in ("provider", "service"):
        names = sorted(t.value for t in terms if t.category == category)
        if names:
            return names[0]
    raise UnknownName(f"unknown provider or service {text.strip()!r}")


def resolve_region(text: str, vocabulary: Vocabulary | None = None) -> str:
    """The region code ``text`` names: a code in any case, or a name the vocabulary knows."""
    vocabulary = vocabulary or vocabulary_for(None)
    if text.strip().upper() in vocabulary.regions:
        return text.strip().upper()
    codes = sorted({t.value for t in vocabulary.meaning(text) if t.category == "region"})
    if len(codes) == 1:
        return codes[0]
    raise UnknownName(f"unknown region {text.strip()!r}")


def select(
    records: Iterable[Record],
    provider: str | None = None,
    region: str | None = None,
    vocabulary: Vocabulary | None = None,
) -> list[Record]:
    """The records about ``provider`` (a slug, service name or alias) in ``region`` (a code or name);
    UnknownName for a name the vocabulary does not know."""
    vocabulary = vocabulary or vocabulary_for(None)
    wanted = None
    if provider is not None:
        name = resolve_provider(provider, vocabulary)
        services = {name} if name in vocabulary.service_providers else set()
        providers = set(vocabulary.service_providers.get(name, ())) if services else {name}
        wanted = (services, providers, bool(services))
    code = resolve_region(region, vocabulary) if region is not None else None
    return [
        r for r in records if (code is None or r.region == code) and (wanted is None or _about(r, *wanted))
    ]


def _about(record: Record, services: set[str], providers: set[str], is_service: bool) -> bool:
    if record.subject in services:
        return True
    if is_service:  # the service's providers, restricted as a whole
        return record.subject in providers and record.subject in record.providers
    return record.subject in providers or bool(providers & set(record.providers))
