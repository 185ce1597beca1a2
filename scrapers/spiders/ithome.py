"""ITHome: the feed (or the /list/ or a /tag/ page) for links, article pages for everything else.

Links are followed only on ITHome's own hosts (ithome.com and its subdomains) or the configured
source's host (tests serve ITHome's shapes from 127.0.0.1), and only a page served from one of those
is believed when it names its news id (``data-nid``): the stored identity is the canonical
https://www.ithome.com/0/xxx/yyy.htm, and a page elsewhere claiming an id would shut the real article
out.
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlsplit

from parsel import Selector
from scrapy.http import Response

from .. import feeds, ithome
from ..items import ArticleItem
from ..normalize import canonical_url, clean_url, html_to_text, ithome_canonical
from .base import Lead, Reader, SourceError
from .feed import response_headers

logger = logging.getLogger(__name__)


class IthomeReader(Reader):
    def leads(self, response: Response) -> list[Lead]:
        """Links from the feed (with its publish time, a fallback for the page's) or a list page."""
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1").lower()
        if "html" in content_type:
            links = ithome.list_links(Selector(text=response.text))
            if not links:
                raise SourceError("no article links (page layout changed?)")
            found = [(response.urljoin(clean_url(href)), title, "", None) for href, title in links]
        else:
            try:
                feed = feeds.parse(response.body, response_headers(response), response.url)
            except feeds.FeedError as exc:
                raise SourceError(str(exc)) from None
            found = [
                (clean_url(e.link), e.title, html_to_text(e.summary_html), e.published)
                for e in feed.entries
                if e.link and not ithome.is_promotion(e.link, e.title)
            ]
        leads = []
        for url, title, summary, published in found:
            if not self.on_ithome(url):  # not an ITHome article: an ad, or a hostile link
                logger.info("%s: a link off ITHome, not followed: %s", self.source.name, url[:200])
                continue
            canonical = canonical_url(url, "ithome")
            teaser = self._item(url, canonical, title, summary, published) if title else None
            leads.append(Lead(url, canonical, teaser=teaser, data=published))
        return leads

    def on_ithome(self, url: str) -> bool:
        """On ithome.com (any subdomain) or on the configured source's host."""
        host = (urlsplit(url).hostname or "").rstrip(".")
        return (
            host == "ithome.com" or host.endswith(".ithome.com") or host == urlsplit(self.source.url).hostname
        )

    def article(self, response: Response, feed_published: datetime | None) -> ArticleItem:
        page = ithome.parse_article(Selector(text=response.text))
        canonical = response.meta["canonical"]
        if page.news_id and self.on_ithome(response.url):
            canonical = ithome_canonical(page.news_id)
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

    def _item(
        self, url: str, canonical: str, title: str, summary: str, published: datetime | None
    ) -> ArticleItem:
        return ArticleItem(
            source=self.source.name,
            url=url,
            canonical=canonical,
            title=title,
            body=summary,
            published=published,
            lang=self.source.lang or "zh",
        )
