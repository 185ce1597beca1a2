"""ITHome: the feed (or the /list/ or a /tag/ page) for links, article pages for everything else.

Links are followed on whatever host they name (tests serve ITHome's shapes from 127.0.0.1); the
stored identity is always the canonical https://www.ithome.com/0/xxx/yyy.htm.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from parsel import Selector
from scrapy.http import Response

from .. import feeds, ithome
from ..items import ArticleItem
from ..normalize import canonical_url, ithome_canonical
from .base import SourceSpider


class IthomeSpider(SourceSpider):
    def parse_index(self, response: Response) -> Iterator[Any]:
        if not self.remember_validators(response):
            return
        for url, _title in self._links(response)[: self.max_articles]:
            yield self.follow_article(url, canonical_url(url, "ithome"), self.parse_article)

    def _links(self, response: Response) -> list[tuple[str, str]]:
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1").lower()
        if "html" in content_type:
            links = ithome.list_links(Selector(text=response.text))
            if not links:
                self.poll.error = f"no article links on {response.url} (page layout changed?)"
            return [(response.urljoin(href), title) for href, title in links]
        try:
            entries = feeds.parse(response.body, content_type)
        except feeds.FeedError as exc:
            self.poll.error = f"{exc} ({response.url})"
            return []
        return [(response.urljoin(e.link), e.title) for e in entries if not ithome.is_promotion(e.link, e.title)]

    def parse_article(self, response: Response) -> Iterator[ArticleItem]:
        page = ithome.parse_article(Selector(text=response.text))
        canonical = ithome_canonical(page.news_id) if page.news_id else response.meta["canonical"]
        yield ArticleItem(
            source=self.source.name, url=response.url, canonical=canonical, title=page.title,
            body=page.body, published=page.published, author=page.author, image=page.image,
            lang=self.source.lang or "zh",
        )
