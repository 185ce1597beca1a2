"""ITHome page parsing, with the element ids public scrapers rely on (RSSHub, ithomereader)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from parsel import Selector

from .normalize import BEIJING, clean_line, clean_text, parse_time

PROMO_WORDS = ("优惠", "神券", "补贴", "京东")
PROMO_HOSTS = ("lapin.ithome.com",)


@dataclass(frozen=True)
class IthomeArticle:
    title: str
    body: str
    published: datetime | None
    author: str
    source: str
    editor: str
    image: str
    news_id: int | None


def parse_article(sel: Selector) -> IthomeArticle:
    title = clean_line(sel.css(".post_title h1::text").get() or sel.css("h1::text").get())
    paragraphs = []
    for p in sel.css("#paragraph > p, div.post_content > p, .news-content > p"):
        if p.css(".ad-tips") or "ad-tips" in (p.attrib.get("class") or "") or p.css("a.topic-bar"):
            continue
        text = clean_line(p.xpath("string()").get())
        if text:
            paragraphs.append(text)
    image = ""
    for img in sel.css("#paragraph img, .post_content img, .news-content img"):
        src = img.attrib.get("src") or ""
        image = img.attrib.get("data-original") or ("" if _is_placeholder(src) else src)
        if image:
            break
    if image.startswith("//"):
        image = "https:" + image
    nid = sel.css("#post_comm::attr(data-nid)").get()
    return IthomeArticle(
        title=title,
        body=clean_text("\n".join(dict.fromkeys(paragraphs))),
        # desktop page, else the mobile one (m.ithome.com/html/xxx.htm): Beijing time, no zone given
        published=parse_time(
            sel.css("#pubtime_baidu::text").get() or sel.css(".news-time::text").get(), assume=BEIJING
        ),
        author=clean_line(sel.css("#author_baidu strong::text").get() or sel.css(".news-author::text").get()),
        source=clean_line(sel.css("#source_baidu a::text").get()),
        editor=clean_line(sel.css("#editor_baidu strong::text").get()),
        image=image,
        news_id=int(nid) if nid and nid.isdigit() else None,
    )


def _is_placeholder(src: str) -> bool:
    """The lazy-loading stand-in a page shows until its script swaps in ``data-original``."""
    return not src or src.startswith("data:") or "placeholder" in src


def is_promotion(url: str, title: str) -> bool:
    return urlsplit(url).hostname in PROMO_HOSTS or any(w in title for w in PROMO_WORDS)


def list_links(sel: Selector) -> list[tuple[str, str]]:
    """(href, title) from the /list/ page or a /tag/ page, promotions dropped."""
    links = [
        (a.attrib.get("href", ""), clean_line(a.xpath("string()").get()))
        for a in sel.css("#list > div.fl > ul > li a.t, ul.bl > li h2 > a")
    ]
    return [(href, title) for href, title in links if href and not is_promotion(href, title)]
