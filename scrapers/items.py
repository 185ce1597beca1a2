"""What the spiders yield: plain typed records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newswatch.detect.stories import StoryKeys
    from newswatch.models import Detection


@dataclass
class ArticleItem:
    source: str
    url: str  # where it was fetched
    canonical: str  # its identity
    title: str
    body: str = ""
    summary: str = ""
    published: datetime | None = None
    author: str = ""
    image: str = ""
    link: str = ""  # as published, shown to users (tracking parameters removed); "" = canonical
    lang: str | None = None  # the source's hint until NormalizePipeline decides
    page_missing: bool = False  # built from the index alone because its page failed
    completing: bool = False  # the page of an article stored earlier from its index alone
    # filled in by the pipelines
    detection: Detection | None = None
    keys: StoryKeys | None = None


@dataclass
class PollOutcome:
    """How a source's poll went; written to the source's state when the spider closes."""

    answered: bool = False  # the index request got a response or failed for good
    error: str | None = None
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    article_failures: list[str] = field(default_factory=list)
    expected: int = 0  # articles the index led to (new ones only)
    settled: int = (
        0  # of those, the ones stored, dropped or failed; fewer at the end = the crawl was cut short
    )

    @property
    def complete(self) -> bool:
        """Every article of the poll was dealt with: its validators can be kept."""
        return not self.article_failures and self.settled >= self.expected
