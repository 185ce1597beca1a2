"""Any RSS 0.9x/1.0/2.0 or Atom feed: entries from the feed, text from the feed or the article page.

Every entry the feed has is kept: one without a link under its id (``tag:``, ``urn:``, a guid), read
at the feed's own link; one without a title under the first sentence of its description (or its
page's headline, or its link). An entry whose page cannot be fetched is stored from the feed (its
teaser) and filled in when the page is read. Only an entry with neither title, text nor link is
skipped (logged): there is nothing of it to store.
"""

from __future__ import annotations

import hashlib
import logging
import re
from urllib.parse import quote

from scrapy.http import Response

from .. import feeds
from ..items import ArticleItem
from ..normalize import canonical_url, clean_url, headline, html_to_text, shown_link
from .base import Lead, Reader, SourceError

FULL_TEXT_CHARS = 600  # a feed body shorter than this is a teaser: fetch the page
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
logger = logging.getLogger(__name__)


def response_headers(response: Response) -> dict[str, str]:
    """The HTTP headers feedparser reads (charset, base URL, language...), as text."""
    return {
        key.decode("latin-1"): b", ".join(values).decode("latin-1")
        for key, values in response.headers.items()
    }


class FeedReader(Reader):
    def leads(self, response: Response) -> list[Lead]:
        try:
            feed = feeds.parse(response.body, response_headers(response), response.url)
        except feeds.FeedError as exc:
            raise SourceError(str(exc)) from None
        leads = [Lead("", "", problem=problem) for problem in feed.problems]
        for number, entry in enumerate(feed.entries, 1):
            try:
                lead = self._lead(entry, feed.link or self.source.url)
            except Exception as exc:  # one odd entry is one failed article, not the end of the poll
                lead = Lead("", "", problem=f"entry {number}: cannot read it: {type(exc).__name__}: {exc}")
            if lead is not None:
                leads.append(lead)
        return leads

    def _lead(self, entry: feeds.FeedEntry, feed_link: str) -> Lead | None:
        text = html_to_text(entry.summary_html)
        content = html_to_text(entry.content_html)
        title = _title(entry)
        link = clean_url(entry.link)
        if not title and not link:
            logger.info(
                "%s: an entry with neither title, text nor link (id %r): nothing to store",
                self.source.name,
                entry.id,
            )
            return None
        if not link:  # the id is its identity, the feed's link the place to read it
            shown = shown_link(clean_url(feed_link))
            item = self._item(self._identity(entry, title, text), shown, title, content or text, entry)
            return Lead("", item.canonical, item=item)
        canonical, shown = canonical_url(link), shown_link(link)
        if len(content) >= FULL_TEXT_CHARS:
            return Lead(link, canonical, item=self._item(canonical, shown, title or shown, content, entry))
        teaser = self._item(canonical, shown, title or shown, content or text, entry)
        return Lead(link, canonical, teaser=teaser, data=entry)

    def _identity(self, entry: feeds.FeedEntry, title: str, text: str) -> str:
        """An entry without a link is known by its id: as it is when it is a URI (``tag:``, ``urn:``),
        else under the feed's URL; without an id, by a digest of what it says."""
        entry_id = clean_url(entry.id)
        if _URI_SCHEME.match(entry_id):
            return entry_id
        if entry_id:
            return f"{self.source.url}#{quote(entry_id, safe='/:@!$&()*+,;=-._~')}"
        digest = hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()[:20]
        return f"{self.source.url}#sha256-{digest}"

    def article(self, response: Response, entry: feeds.FeedEntry) -> ArticleItem:
        from ..extract import extract_article  # trafilatura: only a poll that reads a page pays for it

        teaser: ArticleItem = response.meta["teaser"]
        extracted = extract_article(response.text, response.url)
        if extracted is None:
            return teaser
        return ArticleItem(
            source=self.source.name,
            url=response.url,
            canonical=teaser.canonical,
            link=teaser.link,
            title=_title(entry) or extracted.title or teaser.title,
            body=extracted.body,
            published=entry.published or extracted.published,
            author=extracted.author,
            image=extracted.image,
            lang=self.source.lang,
        )

    def _item(self, canonical: str, link: str, title: str, body: str, entry: feeds.FeedEntry) -> ArticleItem:
        return ArticleItem(
            source=self.source.name,
            url=link,
            canonical=canonical,
            link=link,
            title=title,
            body=body,
            published=entry.published,
            lang=self.source.lang,
        )


def _title(entry: feeds.FeedEntry) -> str:
    """The entry's title, else the first sentence of its description (RSS allows one alone)."""
    return entry.title or headline(html_to_text(entry.summary_html) or html_to_text(entry.content_html))
