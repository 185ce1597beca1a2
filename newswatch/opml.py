"""OPML in and out: the subscription lists feed readers import and export.

Reading goes through listparser, which knows the dialects readers write (``text`` or ``title``,
``xmlUrl``, ``category`` attributes, folders of outlines). Its parser forgives anything, so a strict
XML parse runs first: a file that is not XML, or not OPML, is refused instead of read as an empty list.
newswatch has no folders: nested categories are flattened, and each outline keeps only the path of
its folder, for the report.

Writing builds OPML 2.0 with ElementTree, which escapes every attribute value. Disabled sources are
exported too, marked ``category="/newswatch/disabled"`` (OPML's own attribute, no extension namespace),
and come back disabled when the file is imported again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from xml.etree import ElementTree

import listparser

from .config import SourceConfig

DISABLED_CATEGORY = "/newswatch/disabled"
_DISABLED = DISABLED_CATEGORY.strip("/").split("/")


class OpmlError(ValueError):
    """The file is not a usable OPML subscription list; the message says why."""


@dataclass(frozen=True)
class Outline:
    """One feed of a subscription list."""

    title: str  # the outline's title, else its text ("" when it has neither)
    url: str  # its xmlUrl
    enabled: bool = True
    folders: tuple[str, ...] = ()  # the categories it was filed under, flattened away on import


def read(data: bytes) -> list[Outline]:
    """The feeds of an OPML document, in document order; OpmlError when it is not one or has none."""
    try:  # expat fetches no external entity and caps entity expansion ("billion laughs")
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise OpmlError(f"not XML ({exc})") from None
    tag = root.tag.rpartition("}")[2]
    if tag.lower() != "opml":
        raise OpmlError(f"not OPML: the document is <{tag}>, not <opml>")
    parsed = listparser.parse(data)
    outlines = []
    for feed in parsed.feeds:
        categories = [list(c) for c in feed.get("categories", [])]
        folders = tuple("/".join(c) for c in categories if c != _DISABLED)
        outlines.append(
            Outline(
                title=(feed.get("title") or "").strip(),
                url=(feed.get("url") or "").strip(),
                enabled=_DISABLED not in categories,
                folders=folders,
            )
        )
    if not outlines:
        raise OpmlError("no feeds in it (no <outline> with an xmlUrl)")
    return outlines


def write(sources: Iterable[SourceConfig], title: str, created: datetime) -> str:
    """OPML 2.0 with one ``<outline type="rss">`` per source, named after it.

    newswatch does not know a source's web site, so there is no ``htmlUrl``."""
    opml = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(opml, "head")
    ElementTree.SubElement(head, "title").text = title
    ElementTree.SubElement(head, "dateCreated").text = format_datetime(created, usegmt=True)
    ElementTree.SubElement(head, "docs").text = "https://opml.org/spec2.opml"
    body = ElementTree.SubElement(opml, "body")
    for source in sources:
        attributes = {"type": "rss", "text": source.name, "title": source.name, "xmlUrl": source.url}
        if not source.enabled:
            attributes["category"] = DISABLED_CATEGORY
        ElementTree.SubElement(body, "outline", attributes)
    ElementTree.indent(opml)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(opml, encoding="unicode") + "\n"
