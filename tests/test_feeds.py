"""Feed bytes -> entries with real feedparser: every format, every charset, every way a feed breaks.

The bytes come from the local NewsSite over HTTP, exactly as a server sends them (headers included).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest

from scrapers import feeds

PUBLISHED = datetime(2024, 10, 21, 1, 30, 12, tzinfo=UTC)


def fetch(url: str) -> tuple[bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.read(), error.headers.get("Content-Type", "")


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

    [entry] = feeds.parse(*fetch(site.base_url + "/feeds/tech.xml"))

    assert entry.title == "OpenAI blocks API traffic from China"
    assert entry.link == item.link
    assert entry.published == PUBLISHED
    assert "OpenAI said." in entry.summary_html
    assert entry.content_html == ""


def test_full_content_feeds_carry_the_article_html(site):
    site.add_feed("full", full_content=True)
    site.add_feed_item("full", "Full text", ["First paragraph.", "Second paragraph."])

    [entry] = feeds.parse(*fetch(site.base_url + "/feeds/full.xml"))

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
    body, content_type = fetch(site.base_url + "/feeds/zh.xml")
    assert (encoding in content_type) == declared

    [entry] = feeds.parse(body, content_type)

    assert entry.title == title


def test_undeclared_gb18030_is_sniffed_not_read_as_latin1(site):
    body, content_type = fetch(site.base_url + "/broken/gb18030-undeclared.xml")

    entries = feeds.parse(body, content_type)

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

    [entry] = feeds.parse(body, "text/xml")

    assert entry.title == "朱镕基谈人工智能"


def test_a_malformed_feed_still_gives_the_entries_it_can(site):
    body, content_type = fetch(site.base_url + "/broken/malformed.xml")

    entries = feeds.parse(body, content_type)

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

    assert feeds.parse(*fetch(site.base_url + "/feeds/quiet.xml")) == []


def test_entries_without_a_link_are_skipped_and_guids_that_are_urls_stand_in():
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>No link</title></item>"
        b'<item><title>Guid only</title><guid isPermaLink="true">https://news.example.com/2</guid></item>'
        b"</channel></rss>"
    )

    assert [(e.title, e.link) for e in feeds.parse(body)] == [("Guid only", "https://news.example.com/2")]
