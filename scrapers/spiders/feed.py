"""Any RSS 0.9x/1.0/2.0 or Atom feed: entries from the feed, text from the feed or the article page."""

from __future__ import annotations

from scrapy.http import Response

from .. import feeds
from ..extract import extract_article
from ..items import ArticleItem
from ..normalize import canonical_url, html_to_text
from .base import Lead, Reader, SourceError

FULL_TEXT_CHARS = 600  # a feed body shorter than this is a teaser: fetch the page


class FeedReader(Reader):
    def leads(self, response: Response) -> list[Lead]:
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        try:
            entries = feeds.parse(response.body, content_type)
        except feeds.FeedError as exc:
            raise SourceError(str(exc)) from None
        leads = []
        for entry in entries:
            link = response.urljoin(entry.link)
            canonical = canonical_url(link)
            content = html_to_text(entry.content_html)
            item = self._item(link, canonical, entry, content) if len(content) >= FULL_TEXT_CHARS else None
            leads.append(Lead(link, canonical, item=item, data=entry))
        return leads

    def article(self, response: Response, entry: feeds.FeedEntry) -> ArticleItem:
        canonical = response.meta["canonical"]
        extracted = extract_article(response.text, response.url)
        if extracted is None:
            body = html_to_text(entry.content_html or entry.summary_html)
            return self._item(response.url, canonical, entry, body)
        return ArticleItem(
            source=self.source.name,
            url=response.url,
            canonical=canonical,
            title=entry.title or extracted.title,
            body=extracted.body,
            published=entry.published or extracted.published,
            author=extracted.author,
            image=extracted.image,
            lang=self.source.lang,
        )

    def _item(self, url: str, canonical: str, entry: feeds.FeedEntry, body: str) -> ArticleItem:
        return ArticleItem(
            source=self.source.name,
            url=url,
            canonical=canonical,
            title=entry.title,
            body=body,
            published=entry.published,
            lang=self.source.lang,
        )
