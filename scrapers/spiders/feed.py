"""Any RSS 0.9x/1.0/2.0 or Atom feed: entries from the feed, text from the feed or the article page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scrapy.http import Response

from .. import feeds
from ..extract import extract_article
from ..items import ArticleItem
from ..normalize import canonical_url, html_to_text
from .base import SourceSpider

FULL_TEXT_CHARS = 600  # a feed body shorter than this is a teaser: fetch the page


class FeedSpider(SourceSpider):
    def parse_index(self, response: Response) -> Iterator[Any]:
        if not self.remember_validators(response):
            return
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        try:
            entries = feeds.parse(response.body, content_type)
        except feeds.FeedError as exc:
            self.poll.error = f"{exc} ({response.url})"
            return
        for entry in entries[: self.max_articles]:
            link = response.urljoin(entry.link)
            canonical = canonical_url(link)
            content = html_to_text(entry.content_html)
            if len(content) >= FULL_TEXT_CHARS:
                yield self._item(link, canonical, entry, content)
            else:
                yield self.follow_article(link, canonical, self.parse_article, entry=entry)

    def parse_article(self, response: Response) -> Iterator[ArticleItem]:
        entry: feeds.FeedEntry = response.meta["entry"]
        extracted = extract_article(response.text, response.url)
        if extracted is None:
            body = html_to_text(entry.content_html or entry.summary_html)
            yield self._item(response.url, response.meta["canonical"], entry, body)
            return
        yield ArticleItem(
            source=self.source.name, url=response.url, canonical=response.meta["canonical"],
            title=entry.title or extracted.title, body=extracted.body,
            published=entry.published or extracted.published, author=extracted.author,
            image=extracted.image, lang=self.source.lang,
        )

    def _item(self, url: str, canonical: str, entry: feeds.FeedEntry, body: str) -> ArticleItem:
        return ArticleItem(source=self.source.name, url=url, canonical=canonical, title=entry.title,
                           body=body, published=entry.published, lang=self.source.lang)
