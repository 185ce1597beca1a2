"""Plain records passed between the stages: what a scraper produces and what detection adds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

AUDIENCES = (
    "consumers",
    "developers",
    "individual-developers",
    "enterprises",
    "government-devices",
    "ownership",
)
LANGS = ("zh", "en", "ja", "ko", "other")  # what the store keeps in ``lang``


@dataclass(frozen=True)
class Tags:
    """Who (providers, services), where (regions), what (actions) and for whom (audience, one of
    ``AUDIENCES``); sorted, without duplicates."""

    providers: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, list[str]]:
        # not dataclasses.asdict, which deep-copies field by field: this runs twice per stored article
        return {k: list(getattr(self, k)) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, list[str]] | None) -> Tags:
        data = data or {}
        return cls(**{k: tuple(sorted(set(data.get(k, ())))) for k in cls.__dataclass_fields__})

    def __bool__(self) -> bool:
        return any((self.providers, self.services, self.regions, self.actions, self.audience))


@dataclass(frozen=True)
class Detection:
    relevant: bool
    score: float
    tags: Tags = field(default_factory=Tags)
    watched: tuple[str, ...] = ()  # watched keywords found; such articles are kept even when off-topic
    places: tuple[
        str, ...
    ] = ()  # places inside the regions (a US state): they tell same-country events apart
    effective: date | None = None  # when the change takes or took effect, when the text says

    @property
    def kept(self) -> bool:
        """Worth a story and an alert: on-topic, or matching a watched keyword."""
        return self.relevant or bool(self.watched)


@dataclass
class Article:
    """A normalized article, as the scrapers store it."""

    source: str
    url: str  # canonical: the identity of the article
    title: str
    body: str = ""
    summary: str = ""
    lang: str = "en"  # one of LANGS
    published: datetime | None = None  # UTC
    fetched: datetime | None = None  # UTC
    author: str = ""
    image: str = ""
    link: str = ""  # the link as published (tracking parameters removed), shown to users; "" = url
    page_missing: bool = False  # built from the feed alone, its page failing: fetched again later
