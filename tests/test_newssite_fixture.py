"""The local fixture news site behaves like the real sites the crawler is tested against.

Why: every crawler test and benchmark trusts this fixture; if it drifts (wrong time zone, no 304, a hang
that never hangs) those tests pass for the wrong reasons. Plain urllib + feedparser only, no Scrapy.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import feedparser
import pytest

from tests.fixtures.newssite import HUGE_FEED_BYTES, NewsSite

# 01:30:12 UTC on Oct 21 is 09:30:12 in Beijing; 17:00 UTC on Oct 20 is already Oct 21 in Beijing.
PUBLISHED = datetime(2024, 10, 21, 1, 30, 12, tzinfo=UTC)
LATE_EVENING_UTC = datetime(2024, 10, 20, 17, 0, 0, tzinfo=UTC)


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite() as running:
        yield running


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def test_ithome_rss_lists_articles_newest_first_with_fixture_links(site: NewsSite) -> None:
    older = site.add_ithome_article("较早的新闻", ["第一段。"], published=LATE_EVENING_UTC)
    newer = site.add_ithome_article("ChatGPT 恢复服务", ["第一段。", "第二段。"], published=PUBLISHED)

    status, headers, body = fetch(site.base_url + "/rss/")
    feed = feedparser.parse(body)

    assert status == 200
    assert headers["Content-Type"] == "application/xml; charset=utf-8"
    assert not feed.bozo
    assert feed.feed.title == "IT之家"
    assert [e.link for e in feed.entries] == [newer.url, older.url]
    assert newer.url == site.base_url + "/0/892/249.htm"
    assert newer.canonical == "https://www.ithome.com/0/892/249.htm"
    assert feed.entries[0].id == newer.url
    assert feed.entries[0].title == "ChatGPT 恢复服务"
    assert feed.entries[0].summary == "<p>IT之家 10 月 21 日消息，第一段。</p>"
    assert datetime(*feed.entries[0].published_parsed[:6], tzinfo=UTC) == PUBLISHED


def test_rss_answers_304_to_a_matching_conditional_get(site: NewsSite) -> None:
    site.add_ithome_article("标题", ["正文。"], published=PUBLISHED)
    _, headers, _ = fetch(site.base_url + "/rss/")

    assert fetch(site.base_url + "/rss/", {"If-None-Match": headers["ETag"]})[::2] == (304, b"")
    assert fetch(site.base_url + "/rss/", {"If-Modified-Since": headers["Last-Modified"]})[0] == 304
    assert headers["Last-Modified"] == "Mon, 21 Oct 2024 01:30:12 GMT"

    site.add_ithome_article("新文章", ["正文。"])  # content changed: the old validator no longer matches
    assert fetch(site.base_url + "/rss/", {"If-None-Match": headers["ETag"]})[0] == 200
    assert [r.status for r in site.requests] == [200, 304, 304, 200]
    assert site.hits("/rss/") == 4


def test_article_page_shows_beijing_time_and_ithome_markup(site: NewsSite) -> None:
    article = site.add_ithome_article("标题", ["正文第一段。", "第二段。"], published=PUBLISHED, tags=("AI",))
    late = site.add_ithome_article("深夜新闻", ["正文。"], published=LATE_EVENING_UTC)

    page = fetch(article.url)[2].decode("utf-8")
    assert '<span id="pubtime_baidu">2024-10-21 09:30:12</span>' in page
    assert "<p>IT之家 10 月 21 日消息，正文第一段。</p>" in page
    assert f'data-nid="{article.news_id}"' in page
    assert 'class="ad-tips"' in page and 'class="topic-bar"' in page
    assert 'data-original="https://img.ithome.com/newsuploadfiles/2024/10/' in page

    late_page = fetch(late.url)[2].decode("utf-8")
    assert "2024-10-21 01:00:00" in late_page and "IT之家 10 月 21 日消息，" in late_page
    assert fetch(site.base_url + "/0/999/999.htm")[0] == 404


def test_gbk_feed_decodes_to_the_right_chinese_title(site: NewsSite) -> None:
    site.add_feed("cnbeta", encoding="gbk", lang="zh-CN")
    title = "中国用户无法访问 Claude"
    item = site.add_feed_item("cnbeta", title, ["第一句。"], link_params="?utm_source=rss")

    _, headers, body = fetch(site.base_url + "/feeds/cnbeta.xml")
    feed = feedparser.parse(body, response_headers={"content-type": headers["Content-Type"]})

    assert headers["Content-Type"] == "application/rss+xml; charset=gbk"
    assert body.startswith(b'<?xml version="1.0" encoding="gbk"?>')
    assert "中国用户无法访问".encode("gbk") in body
    assert feed.entries[0].title == title
    assert feed.entries[0].link == item.url + "?utm_source=rss"
    assert '<meta charset="gbk">' in fetch(item.url)[2].decode("gbk")


@pytest.mark.parametrize("kind", ["rss", "atom", "rdf"])
def test_every_feed_kind_parses_with_its_links(site: NewsSite, kind: str) -> None:
    site.add_feed("f", kind=kind, full_content=True)
    item = site.add_feed_item("f", "Claude restricted in Italy", ["One. Two.", "Three."], published=PUBLISHED)

    feed = feedparser.parse(fetch(site.base_url + "/feeds/f.xml")[2])

    assert not feed.bozo
    entry = feed.entries[0]
    assert (entry.title, entry.link, entry.id) == (item.title, item.url, item.url)
    assert '<time datetime="2024-10-21T01:30:12+00:00">' in fetch(item.url)[2].decode()


def test_hang_times_out_and_stop_is_still_fast() -> None:
    site = NewsSite().start()
    try:
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            urllib.request.urlopen(site.base_url + "/broken/hang.xml", timeout=1)

        hanging = socket.create_connection(("127.0.0.1", site.port))
        hanging.sendall(b"GET /broken/hang.xml HTTP/1.1\r\nHost: fixture\r\n\r\n")
        deadline = time.monotonic() + 2
        while site.hits("/broken/hang.xml") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
    finally:
        site.stop()
    assert time.monotonic() - started < 2
    hanging.settimeout(2)
    assert hanging.recv(100) == b""  # the hanging request was cut off, not answered
    hanging.close()


@pytest.mark.parametrize("path", ["/broken/huge.xml", "/broken/huge-chunked.xml"])
def test_huge_feed_is_at_least_30_mb(site: NewsSite, path: str) -> None:
    received = 0
    with urllib.request.urlopen(site.base_url + path, timeout=10) as response:
        declared = response.headers["Content-Length"]
        while chunk := response.read(1 << 20):
            received += len(chunk)
    assert received >= HUGE_FEED_BYTES == 30 * 1024 * 1024
    assert declared == (str(received) if path.endswith("huge.xml") else None)
