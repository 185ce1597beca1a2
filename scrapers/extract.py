"""Article text and metadata from any news page, with trafilatura (no network: we give it the HTML)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import trafilatura
from parsel import Selector
from trafilatura.settings import use_config

from .normalize import clean_line, clean_text, parse_time

# trafilatura's default MIN_EXTRACTED_SIZE (250 characters) is tuned for long English pages: a short
# brief, and most Chinese ones (80 characters say a lot), falls below it, and trafilatura then falls
# back to the page's whole text: headline, byline and paragraphs run together on one line.
_CONFIG = use_config()
_CONFIG.set("DEFAULT", "MIN_EXTRACTED_SIZE", "20")
_CONFIG.set("DEFAULT", "MIN_OUTPUT_SIZE", "10")
_CONFIG.set("DEFAULT", "EXTENSIVE_DATE_SEARCH", "off")  # the page's own timestamp wins anyway, see below


@dataclass(frozen=True)
class Extracted:
    title: str
    body: str
    published: datetime | None
    author: str
    image: str


def extract_article(html: str, url: str) -> Extracted | None:
    doc = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        fast=True,
        config=_CONFIG,
    )
    if doc is None or not doc.text:
        return None
    title = clean_line(doc.title)
    lines = clean_text(doc.text).split("\n")
    if lines and clean_line(lines[0]) == title:
        lines = lines[1:]  # trafilatura repeats the headline as the first line
    # trafilatura's date guess is day-precision at best (and wrong on some sites): prefer the page's
    # own machine-readable timestamp.
    sel = Selector(text=html)
    stamp = (
        sel.css('meta[property="article:published_time"]::attr(content)').get()
        or sel.css("time::attr(datetime)").get()
        or doc.date
    )
    return Extracted(
        title=title,
        body="\n".join(lines).strip(),
        published=parse_time(stamp),
        author=clean_line(doc.author),
        image=doc.image or "",
    )
