"""ITHome: the feed (or the /list/ or a /tag/ page) for links, article pages for everything else.

Links are followed on whatever host they name (tests serve ITHome's shapes from 127.0.0.1); the
stored identity is always the canonical https://www.ithome.com/0/xxx/yyy.htm.
"""

from __future__ import annotations

from datetime import datetime

from parsel import Selector
from scrapy.http import Response

from .. import feeds, ithome
from ..items import ArticleItem
from ..normalize import canonical_url, ithome_canonical
from .base import Lead, Reader, SourceError


class IthomeReader(Reader):
    def leads(self, response: Response) -> list[Lead]:
        """Links from the feed (with its publish time, a fallback for the page's) or a list page."""
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1").lower()
        if "html" in content_type:
            links = ithome.list_links(Selector(text=response.text))
            if not links:
                raise SourceError("no article links (page layout changed?)")
            found = [(response.urljoin(href), None) for href, _title in links]
        else:
            try:
                entries = feeds.parse(response.body, content_type)
            except feeds.FeedError as exc:
                raise SourceError(str(exc)) from None
            found = [
                (response.urljoin(e.link), e.published)
                for e in entries
                if not ithome.is_promotion(e.link, e.title)
            ]
        return [Lead(url, canonical_url(url, "ithome"), data=published) for url, published in found]

    def article(self, response: Response, feed_published: datetime | None) -> ArticleItem:
        page = ithome.parse_article(Selector(text=response.text))
        canonical = ithome_canonical(page.news_id) if page.news_id else response.meta["canonical"]
        return ArticleItem(
            source=self.source.name,
            url=response.url,
            canonical=canonical,
            title=page.title,
            body=page.body,
            published=page.published or feed_published,
            author=page.author,
            image=page.image,
            lang=self.source.lang or "zh",
        )
