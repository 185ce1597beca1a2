"""Feed bytes -> entries with real feedparser: every format, every charset, every way a feed breaks.

The bytes come from the local NewsSite over HTTP, exactly as a server sends them (headers included).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest

from scrapers import feeds
from tests.fixtures.hostile import entity_feed, item, rss

PUBLISHED = datetime(2024, 10, 21, 1, 30, 12, tzinfo=UTC)


def fetch(url: str) -> tuple[bytes, dict[str, str], str]:
    """(body, headers, url): what ``feeds.parse`` takes, as a server sent it."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read(), dict(response.headers.items()), url
    except urllib.error.HTTPError as error:
        return error.read(), dict(error.headers.items()), url


@pytest.mark.parametrize("kind", ["rss", "atom", "rdf"])
def test_rss_atom_and_rdf_feeds_give_links_titles_and_utc_times(site, kind):
    site.add_feed("tech", kind=kind)
    item = site.add_feed_item(
        "tech",
        "OpenAI blocks API traffic from China",
        ["OpenAI said. More."],
        published=PUBLISHED,
        link_params="?utm_source=rss",
    )

    [entry] = feeds.parse(*fetch(site.base_url + "/feeds/tech.xml")).entries

    assert entry.title == "OpenAI blocks API traffic from China"
    assert entry.link == item.link
    assert entry.published == PUBLISHED
    assert "OpenAI said." in entry.summary_html
    assert entry.content_html == ""


def test_full_content_feeds_carry_the_article_html(site):
    site.add_feed("full", full_content=True)
    site.add_feed_item("full", "Full text", ["First paragraph.", "Second paragraph."])

    [entry] = feeds.parse(*fetch(site.base_url + "/feeds/full.xml")).entries

    assert entry.content_html == "<p>First paragraph.</p><p>Second paragraph.</p>"


@pytest.mark.parametrize(
    ("encoding", "declared"),
    [("gbk", True), ("gb2312", True), ("gb18030", True), ("gbk", False), ("big5", False)],
)
def test_chinese_charsets_are_read_whether_declared_or_not(site, encoding, declared):
    title = "香港用戶無法使用人工智能服務" if encoding == "big5" else "谷歌停止向香港用户提供 Gemini 服务"
    site.add_feed("zh", encoding=encoding, lang="zh", declare_encoding=declared)
    site.add_feed_item(
        "zh", title, ["据报道，该服务已经停止。" if encoding != "big5" else "據報道，服務已經停止。"]
    )
    body, headers, url = fetch(site.base_url + "/feeds/zh.xml")
    assert (encoding in headers["Content-Type"]) == declared

    [entry] = feeds.parse(body, headers, url).entries

    assert entry.title == title


def test_undeclared_gb18030_is_sniffed_not_read_as_latin1(site):
    entries = feeds.parse(*fetch(site.base_url + "/broken/gb18030-undeclared.xml")).entries

    assert [e.title for e in entries] == [
        "𠮷野家推出人工智能点餐服务",
        "某人工智能服务暂停向中国内地用户提供",
    ]
    assert "欧元（€）区" in entries[0].summary_html


def test_gbk_characters_in_a_feed_declared_gb2312_survive():
    # Real Chinese feeds often say gb2312 and send GBK: 镕 is GBK, not GB2312.
    body = (
        '<?xml version="1.0" encoding="gb2312"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>朱镕基谈人工智能</title><link>https://news.example.cn/1.html</link></item>"
        "</channel></rss>"
    ).encode("gbk")

    [entry] = feeds.parse(body, {"Content-Type": "text/xml"}).entries

    assert entry.title == "朱镕基谈人工智能"


def test_a_malformed_feed_still_gives_the_entries_it_can(site):
    entries = feeds.parse(*fetch(site.base_url + "/broken/malformed.xml")).entries

    titles = [e.title for e in entries]
    assert titles[:2] == ["First item parses fine", "Second item has an undefined &bogus; entity"]
    assert entries[0].published == PUBLISHED
    assert all(e.link.startswith(site.base_url + "/news/malformed/") for e in entries)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/broken/html-error.xml", "an HTML page, not RSS/Atom"),
        ("/broken/empty.xml", "empty response"),
        ("/broken/not-xml.bin", "not RSS/Atom (application/octet-stream"),
        ("/broken/404.xml", "an HTML page, not RSS/Atom"),
    ],
)
def test_what_is_not_a_feed_is_refused_with_a_reason(site, path, reason):
    with pytest.raises(feeds.FeedError) as refused:
        feeds.parse(*fetch(site.base_url + path))

    assert str(refused.value).startswith(reason)


def test_a_feed_without_items_is_empty_not_an_error(site):
    site.add_feed("quiet")

    assert feeds.parse(*fetch(site.base_url + "/feeds/quiet.xml")).entries == []


def test_entries_without_a_link_are_kept_and_guids_that_are_urls_stand_in():
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<link>https://news.example.com/</link>"
        b'<item><title>No link</title><guid isPermaLink="false">tag:news.example.com,2024:1</guid></item>'
        b'<item><title>Guid only</title><guid isPermaLink="true">https://news.example.com/2</guid></item>'
        b"</channel></rss>"
    )

    feed = feeds.parse(body)

    assert [(e.title, e.link, e.id) for e in feed.entries] == [
        ("No link", "", "tag:news.example.com,2024:1"),
        ("Guid only", "https://news.example.com/2", "https://news.example.com/2"),
    ]
    assert feed.link == "https://news.example.com/"


def test_relative_links_resolve_against_the_feeds_address():
    body = (
        b'<rss version="2.0"><channel><item><title>t</title><link>/news/1.html</link></item></channel></rss>'
    )

    [entry] = feeds.parse(
        body, {"Content-Type": "application/rss+xml"}, "http://feeds.example/a/feed.xml"
    ).entries

    assert entry.link == "http://feeds.example/news/1.html"


# --- what can hurt: entities, surrogates, charsets (issue 8) ---------------------------------------------


def test_an_internal_entity_is_never_expanded():
    links = [f"https://news.example/{n}" for n in range(40)]
    body = entity_feed(entity_bytes=5_000, references=1_000, links=links)  # would expand to 5 MB

    feed = feeds.parse(body, {"Content-Type": "application/rss+xml"})

    assert [e.link for e in feed.entries] == links
    assert all("AAAA" not in e.summary_html and len(e.summary_html) < 100 for e in feed.entries)


def test_entity_declarations_outside_a_doctype_subset_are_not_collected_either():
    # feedparser gathers every <!ENTITY at the start of a line before the root element and, given a
    # DOCTYPE, declares them again; without the brackets nothing marks them as a subset
    body = (
        '<?xml version="1.0"?>\n<!DOCTYPE rss>\n<!ENTITY big "' + "B" * 5_000 + '">\n'
        '<rss version="2.0"><channel><item><title>t</title><link>https://n.example/1</link>'
        "<description>" + "&big;" * 500 + "</description></item></channel></rss>"
    ).encode()

    [entry] = feeds.parse(body).entries

    assert "BBBB" not in entry.summary_html


def test_html_entity_names_still_read_after_their_declarations_are_stripped():
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY nbsp "&#160;"> <!ENTITY odd "]>">]>\n'
        b'<rss version="2.0"><channel><item><title>a&nbsp;b&odd;c</title>'
        b"<link>https://n.example/1</link></item></channel></rss>"
    )

    [entry] = feeds.parse(body).entries

    assert entry.title == "a\u00a0bc"


def test_a_lone_surrogate_costs_one_character_not_the_feed():
    body = rss(
        [
            item("https://n.example/1", "Before"),
            item("https://n.example/2", "A lone SURROGATE and one too big: BIG"),
            item("https://n.example/3", "After"),
        ]
    )
    body = body.replace("SURROGATE", "&#xD800;").replace("BIG", "&#x110000;").encode()

    feed = feeds.parse(body, {"Content-Type": "application/rss+xml"})

    assert [e.title for e in feed.entries] == ["Before", "A lone \ufffd and one too big: \ufffd", "After"]


def test_one_bad_byte_in_utf8_costs_one_character_not_the_document():
    body = rss([item("https://n.example/1", "Café déjà vu"), item("https://n.example/2", "Zwei Bytes")])
    body = body.encode().replace(b"Zwei", b"Zw\xffei")

    feed = feeds.parse(body, {"Content-Type": "application/rss+xml; charset=utf-8"})

    assert [e.title for e in feed.entries] == ["Café déjà vu", "Zw\ufffdei Bytes"]
    assert feed.encoding == "utf-8"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_without_a_bom_are_read(codec):
    # short and all ASCII, as feedparser's own test files are: nothing for a charset sniffer to go on,
    # but XML says how to tell these apart from their first four bytes
    body = rss([item("https://n.example/1", "Short title")]).replace("utf-8", codec[:6])

    [entry] = feeds.parse(body.encode(codec), {"Content-Type": "application/xml"}).entries

    assert entry.title == "Short title"
