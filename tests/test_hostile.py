"""Hostile feeds against the real crawl (issue 8): the CLI in a subprocess, real Scrapy, feedparser,
trafilatura and SQLAlchemy, against ``tests/fixtures/hostile.py``.

A feed may point the crawler at the machine's own services; the internal service on a second
loopback port must never see a request, and what it would answer (an on-topic page with a credential)
must never be stored. A feed may also break the parser or leave things out; every entry that can be
read is kept, every one that cannot is a clear failure, and the source's status counts them.
One module fixture runs two polls of many hostile sources; the tests read what happened.
"""

from __future__ import annotations

import re
import socket
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from newswatch.storage import connect, schema
from tests.fixtures.hostile import (
    INTERNAL_SECRET,
    Hit,
    HostileSite,
    entity_feed,
    item,
    ithome_page,
    page,
    rss,
    ssrf_links,
)

pytestmark = pytest.mark.slow

RELEVANT_PAGE = [
    "Google has stopped offering Gemini to users in Hong Kong, the company said on Monday.",
    "Users in Hong Kong now see an error when they open the Gemini app.",
]
# what each hostile link must be refused as (the link's port is the internal service's)
REFUSED = {
    "another loopback port": "127.0.0.1:{port} is a loopback address",
    "localhost": "localhost:{port} is a loopback name",
    "decimal address": "2130706433:{port} is 127.0.0.1, a loopback address",
    "hex address": "0x7f000001:{port} is 127.0.0.1, a loopback address",
    "octal address": "0177.0.0.1:{port} is 127.0.0.1, a loopback address",
    "short address": "127.1:{port} is 127.0.0.1, a loopback address",
    "IPv6 loopback": "[::1]:{port} is a loopback address",
    "IPv4-mapped IPv6": "[::ffff:127.0.0.1]:{port} is 127.0.0.1, a loopback address",
    "cloud metadata": "169.254.169.254:80 is a cloud metadata address",
    "private network": "10.0.0.5:80 is a private address",
    "CGNAT": "100.64.0.1:80 is a shared (CGNAT) address",
    "multicast": "224.0.0.1:80 is a multicast address",
    "unspecified": "0.0.0.0:{port} is an unspecified address",
    "credentials": "a link with user info is not fetched",
    "file": "file: links are not fetched (only http and https)",
    "ftp": "ftp: links are not fetched (only http and https)",
    "data": "data: links are not fetched (only http and https)",
    "javascript": "javascript: links are not fetched (only http and https)",
}
# redirects on the feed's own origin: where each one leads, and why it is not followed
HOPS = {
    "/go/internal": ("{internal}/admin", "article failed: refused: 127.0.0.1:{port} is a loopback address"),
    "/go/localhost": (
        "http://localhost:{port}/",
        "article failed: refused: localhost:{port} is a loopback name",
    ),
    # Scrapy itself follows redirects to http(s) only: the 302 is the answer, the feed's teaser is kept
    "/go/file": ("file:///etc/passwd", "article failed, stored from the feed alone: HTTP 302 from "),
}


def loopback_hostname() -> str | None:
    """This machine's name when it resolves to a loopback or private address (it usually does)."""
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        return None
    return name if address.startswith(("127.", "10.", "192.168.", "172.")) else None


@dataclass
class Poll:
    result: subprocess.CompletedProcess[str]
    rows: dict[str, dict[str, Any]]
    listing: str
    feed_hits: list[Hit]
    internal_hits: list[Hit]


@dataclass
class Hostile:
    first: Poll
    second: Poll
    internal_port: int
    internal_url: str
    feed_base: str
    hostname: str | None


def read_rows(store: str) -> dict[str, dict[str, Any]]:
    engine = connect(store)
    with engine.connect() as conn:
        rows = {r["url"]: dict(r) for r in conn.execute(select(schema.articles)).mappings()}
    engine.dispose()
    return rows


def source(name: str, url: str, kind: str = "rss") -> str:
    return f'\n[[sources]]\nname = "{name}"\nkind = "{kind}"\nurl = "{url}"\ninterval = 5\n'


def listing_row(listing: str, name: str) -> str:
    return next(line for line in listing.splitlines() if line.startswith(f"{name} "))


def poll(newswatch, config: Path, site: HostileSite) -> Poll:
    site.feed.requests.clear()
    site.internal.requests.clear()
    result = newswatch("--config", config, "crawl", "--all")
    listing = newswatch("--config", config, "sources").stdout
    return Poll(
        result,
        read_rows(f"sqlite:///{config.parent / 'store.db'}"),
        listing,
        list(site.feed.requests),
        list(site.internal.requests),
    )


def serve_hostile_sources(site: HostileSite, hostname: str | None) -> str:
    """Routes for every hostile source; returns their [[sources]] tables."""
    feed, internal = site.feed, site.internal
    sources = ""

    # --- section 1: links to the machine's own services, and a good entry after them
    items = [
        item(link=url, title=f"OpenAI blocks ChatGPT in China ({kind})")
        for kind, url in ssrf_links(internal).items()
    ]
    if hostname:
        items.append(item(link=f"http://{hostname}:{internal.port}/admin", title="By this machine's name"))
    feed.html("/news/good.html", page("A good entry after the bad ones", RELEVANT_PAGE))
    items.append(item(link=feed.url("/news/good.html"), title="A good entry after the bad ones"))
    sources += source("ssrf", feed.route("/ssrf.xml", rss(items)))

    # redirects on the feed's own origin, to places it must not lead
    for path, (target, _) in HOPS.items():
        feed.redirect(path, target.format(internal=internal.base_url, port=internal.port))
    feed.html(
        "/go/refresh",
        f'<html><head><meta http-equiv="refresh" content="0;url={internal.url("/refresh")}"></head></html>',
    )
    hops = [item(link=feed.url(path), title=f"Hop {path}") for path in [*HOPS, "/go/refresh"]]
    sources += source("hops", feed.route("/hops.xml", rss(hops)))

    # the configured feed itself redirects to the internal service
    internal_feed = internal.url("/feed.xml")
    feed.redirect("/moved.xml", internal_feed)
    sources += source("moved", feed.url("/moved.xml"))

    # a name of this machine as a configured source: its origin is trusted, its other ports are not
    if hostname:
        good = f"http://{hostname}:{feed.port}/news/good.html"
        named = [
            item(link=f"http://{hostname}:{internal.port}/admin/named", title="Same name, another port"),
            item(link=good, title="Same name, same port"),
        ]
        feed.route("/named.xml", rss(named))
        sources += source("named", f"http://{hostname}:{feed.port}/named.xml")

    # ITHome: article links only on ITHome or the configured host ("localhost" is another host)
    feed.html(
        "/0/900/001.htm",
        ithome_page(
            "微软宣布停止向中国大陆个人开发者提供 Azure OpenAI 服务", ["第一段。", "第二段。"], 900001
        ),
    )
    ithome_items = [
        item(link=feed.url("/0/900/001.htm"), title="微软宣布停止向中国大陆个人开发者提供 Azure OpenAI 服务"),
        item(link=f"http://localhost:{feed.port}/0/900/002.htm", title="另一台主机上的文章"),
    ]
    sources += source("ithome", feed.route("/ithome/rss/", rss(ithome_items)), kind="ithome")

    # --- section 2: an entity bomb, a lone surrogate
    entity_items = [f"/news/e{n}.html" for n in range(40)]
    for path in entity_items:
        feed.html(path, page(f"Entity item {path}", ["Readable text."]))
    bomb = entity_feed(20_000, 2_000, [feed.url(path) for path in entity_items], element="content:encoded")
    sources += source("entities", feed.route("/entities.xml", bomb))

    for name in ("s1", "s2", "s3"):
        feed.html(f"/news/{name}.html", page(f"Surrogate story {name}", ["Some text."]))
    surrogates = rss(
        [
            item(link=feed.url("/news/s1.html"), title="Before the surrogate"),
            item(link=feed.url("/news/s2.html"), title="A lone SURROGATE here"),
            item(link=feed.url("/news/s3.html"), title="After the surrogate"),
        ]
    ).replace("SURROGATE", "&#xD800;")
    sources += source("surrogate", feed.route("/surrogate.xml", surrogates))

    # --- section 6: no link, no title, teasers whose page fails, shown links, languages
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        '<title>No links</title><link rel="alternate" href="https://nolink.example/"/>'
        "<id>tag:nolink.example,2024:feed</id><updated>2024-10-21T01:30:12Z</updated>"
        "<entry><id>tag:nolink.example,2024:1</id><title>An Atom entry with a tag: id and no link</title>"
        "<updated>2024-10-21T01:30:12Z</updated>"
        "<summary>Only an id says which entry this is.</summary></entry>"
        "</feed>"
    )
    sources += source("nolink", feed.route("/nolink.atom", atom, content_type="application/atom+xml"))
    feed.html("/news/untitled.html", page("", ["The page has no headline either."]))
    untitled = rss(
        [
            item(
                title=None,
                description="RSS allows a description alone. This one says so.",
                link=feed.url("/news/untitled.html"),
            ),
            item(guid="item-without-a-link-42", title="An RSS item with a guid and no link"),
        ],
        link="https://untitled.example/",
    )
    sources += source("untitled", feed.route("/untitled.xml", untitled))

    feed.html("/news/blocked.html", "<html><body>Access denied</body></html>", status=403)
    teasers = rss(
        [
            item(
                link=feed.url("/news/blocked.html"), title="Gemini news", description="Google changes Gemini."
            ),
            item(
                link="http://no-such-host.invalid/story.html", title="A story on a host that does not resolve"
            ),
        ]
    )
    sources += source("teaser", feed.route("/teaser.xml", teasers))

    shown = ["/news/item?item", "/news/x?from=rss&id=3&utm_source=feed", "/news/y?spm=a.b.c&utm_medium=x"]
    for path in shown:
        feed.html(path, page(f"Shown link {path}", ["Body."]))
    sources += source(
        "links", feed.route("/links.xml", rss([item(link=feed.url(p), title=f"Shown {p}") for p in shown]))
    )

    texts = {
        "ja": "グーグルは香港の利用者向けに Gemini の提供を停止したと発表した。" * 20,
        "ko": "구글은 홍콩 사용자에게 제미나이 서비스 제공을 중단했다고 밝혔다." * 20,
        "other": "Google прекратила предоставление сервиса Gemini пользователям в Гонконге." * 10,
    }
    full = [
        item(
            link=feed.url(f"/news/lang-{lang}.html"),
            title=text[:30],
            raw=f"<content:encoded><![CDATA[<p>{text}</p>]]></content:encoded>",
        )
        for lang, text in texts.items()
    ]
    langs = rss(full).replace(
        '<rss version="2.0">', '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
    )
    sources += source("langs", feed.route("/langs.xml", langs))
    return sources


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, newswatch) -> Hostile:
    directory = tmp_path_factory.mktemp("hostile")
    hostname = loopback_hostname()
    with HostileSite() as site:
        sources = serve_hostile_sources(site, hostname)
        config = directory / "config.toml"
        config.write_text(
            '[storage]\nurl = "sqlite:///store.db"\n[crawl]\ntimeout = "5s"\nretries = 0\n' + sources,
            encoding="utf-8",
        )
        first = poll(newswatch, config, site)
        # the blocked page now serves the article: the next poll fills in the teaser stored from the feed
        site.feed.html("/news/blocked.html", page("Gemini news", RELEVANT_PAGE))
        second = poll(newswatch, config, site)
    return Hostile(first, second, site.internal.port, site.internal.base_url, site.feed.base_url, hostname)


def rows_of(poll_: Poll, name: str) -> list[dict[str, Any]]:
    return [row for row in poll_.rows.values() if row["source"] == name]


def every_text(row: dict[str, Any]) -> str:
    return "\n".join(
        str(row[c] or "") for c in ("url", "link", "title", "summary", "body", "author", "image")
    )


# --- section 1 ---------------------------------------------------------------------------------------


def test_the_internal_service_never_sees_a_request(hostile):
    assert hostile.first.internal_hits == []
    assert hostile.second.internal_hits == []


def test_nothing_the_internal_service_holds_is_stored(hostile):
    for row in hostile.second.rows.values():
        assert INTERNAL_SECRET not in every_text(row)
        assert f":{hostile.internal_port}" not in every_text(row)


def test_each_forbidden_link_is_a_clear_article_failure(hostile):
    err = hostile.first.result.stderr

    assert "Traceback" not in err
    for kind, reason in REFUSED.items():
        assert f"ssrf: article failed: refused: {reason.format(port=hostile.internal_port)}" in err, kind


def test_a_name_that_resolves_to_this_machine_is_refused_after_resolution(hostile):
    if hostile.hostname is None:
        pytest.skip("this machine's name does not resolve to a loopback or private address")
    port = hostile.internal_port
    err = hostile.first.result.stderr

    assert f"ssrf: article failed: refused: {hostile.hostname}:{port} resolves to " in err
    # a configured source's name is trusted on its own origin only
    assert f"named: article failed: refused: {hostile.hostname}:{port} resolves to " in err
    assert any(r["url"].startswith(f"http://{hostile.hostname}:") for r in rows_of(hostile.first, "named"))


def test_one_bad_entry_does_not_end_the_poll(hostile):
    [good] = rows_of(hostile.first, "ssrf")

    assert good["title"] == "A good entry after the bad ones"
    assert good["body"] == "\n".join(RELEVANT_PAGE)


def test_redirects_on_the_feeds_own_host_are_held_to_the_rules(hostile):
    err = hostile.first.result.stderr
    port = hostile.internal_port

    for path, (_, reason) in HOPS.items():
        assert any(h.path == path for h in hostile.first.feed_hits)  # the first hop is the feed's origin
        assert f"hops: {reason.format(port=port)}" in err
    refresh = f"refused: 127.0.0.1:{port} is a loopback address ({hostile.internal_url}/refresh)"
    assert f"hops: article failed: {refresh}" in err  # a meta refresh is a hop too
    [kept] = rows_of(hostile.first, "hops")  # the file: hop's entry, from the feed alone
    assert (kept["title"], kept["body"]) == ("Hop /go/file", "A short teaser.")


def test_a_source_redirected_to_the_internal_service_fails_with_the_reason(hostile):
    out = hostile.first.result.stdout
    reason = f"refused: 127.0.0.1:{hostile.internal_port} is a loopback address"

    assert f"FAILED moved: {reason}" in out
    assert reason in listing_row(hostile.first.listing, "moved")


def test_ithome_follows_links_on_its_own_host_only(hostile):
    rows = hostile.first.rows

    assert "https://www.ithome.com/0/900/001.htm" in rows
    assert "https://www.ithome.com/0/900/002.htm" not in rows
    assert not any(h.path == "/0/900/002.htm" for h in hostile.first.feed_hits)


# --- section 2 ---------------------------------------------------------------------------------------


def test_an_entity_bomb_is_read_without_expanding_it(hostile):
    stored = rows_of(hostile.first, "entities")

    assert len(stored) == 40
    assert all("A" * 1000 not in every_text(row) for row in stored)
    assert " ok " in listing_row(hostile.first.listing, "entities")


def test_a_lone_surrogate_loses_only_itself(hostile):
    titles = sorted(row["title"] for row in rows_of(hostile.first, "surrogate"))

    assert titles == ["A lone \ufffd here", "After the surrogate", "Before the surrogate"]
    assert " ok " in listing_row(hostile.first.listing, "surrogate")


# --- section 6 ---------------------------------------------------------------------------------------


def test_entries_without_a_link_are_kept_under_their_id_with_the_feeds_link(hostile):
    atom = hostile.first.rows["tag:nolink.example,2024:1"]
    rss_row = next(r for r in rows_of(hostile.first, "untitled") if "guid" in r["title"])

    assert (atom["title"], atom["link"]) == (
        "An Atom entry with a tag: id and no link",
        "https://nolink.example/",
    )
    assert atom["body"] == "Only an id says which entry this is."
    assert rss_row["url"].endswith("item-without-a-link-42")
    assert rss_row["link"] == "https://untitled.example/"


def test_entries_without_a_title_get_one_from_their_description(hostile):
    row = next(r for r in rows_of(hostile.first, "untitled") if r["url"].endswith("/news/untitled.html"))

    assert row["title"] == "RSS allows a description alone."


def test_a_teaser_whose_page_fails_is_stored_from_the_feed_and_counted(hostile):
    blocked = hostile.first.rows[hostile.feed_base + "/news/blocked.html"]
    unresolved = hostile.first.rows["http://no-such-host.invalid/story.html"]
    row = listing_row(hostile.first.listing, "teaser")

    assert (blocked["title"], blocked["body"]) == ("Gemini news", "Google changes Gemini.")
    assert unresolved["title"] == "A story on a host that does not resolve"
    assert "ok, 2 failed" in row
    assert "HTTP 403 from" in row or "DNS lookup failed: address 'no-such-host.invalid' not found" in row


def test_the_next_poll_fills_in_the_page_and_its_detection(hostile):
    before = hostile.first.rows[hostile.feed_base + "/news/blocked.html"]
    after = hostile.second.rows[hostile.feed_base + "/news/blocked.html"]

    assert not before["relevant"]
    assert after["body"] == "\n".join(RELEVANT_PAGE)
    assert after["relevant"] and after["tags"]["regions"] == ["HK"]
    assert after["id"] == before["id"] and after["story_id"] == before["story_id"]
    assert sum(1 for h in hostile.second.feed_hits if h.path == "/news/blocked.html") == 1
    assert "ok, 1 failed" in listing_row(hostile.second.listing, "teaser")  # the unresolvable host


def test_users_see_the_link_as_published_without_tracking_parameters(hostile):
    links = sorted(row["link"] or row["url"] for row in rows_of(hostile.first, "links"))
    base = hostile.feed_base

    assert links == [f"{base}/news/item?item", f"{base}/news/x?from=rss&id=3", f"{base}/news/y?spm=a.b.c"]


def test_japanese_korean_and_other_languages_are_stored_as_such(hostile):
    langs = {row["url"].rsplit("-", 1)[-1]: row["lang"] for row in rows_of(hostile.first, "langs")}

    assert langs == {"ja.html": "ja", "ko.html": "ko", "other.html": "other"}


# --- allow_private, and control characters on every store -----------------------------------------------


def test_allow_private_opts_in_for_intranet_hosts_but_never_metadata(tmp_path, newswatch):
    with HostileSite() as site:
        feed, internal = site.feed, site.internal
        feed.html("/0/900/006.htm", ithome_page("真正的 900006 号文章", ["正文。"], 900006))
        feed.redirect("/0/900/005.htm", f"http://localhost:{feed.port}/impostor.htm")
        feed.html("/impostor.htm", ithome_page("冒名的页面", ["它自称 900006。"], 900006))
        intranet = [
            item(link=internal.url("/wiki/story"), title="An intranet story"),
            item(link="http://169.254.169.254/latest/meta-data/", title="Metadata"),
        ]
        ithome_items = [
            item(link=feed.url("/0/900/005.htm"), title="冒名"),
            item(link=feed.url("/0/900/006.htm"), title="真正的 900006 号文章"),
        ]
        config = tmp_path / "config.toml"
        config.write_text(
            '[storage]\nurl = "sqlite:///store.db"\n[crawl]\nallow_private = true\nretries = 0\n'
            + source("intranet", feed.route("/intranet.xml", rss(intranet)))
            + source("ithome", feed.route("/rss/", rss(ithome_items)), kind="ithome"),
            encoding="utf-8",
        )
        result = newswatch("--config", config, "crawl", "--all")
        rows = read_rows(f"sqlite:///{tmp_path / 'store.db'}")

    assert [h.path for h in internal.requests] == ["/wiki/story"]
    assert "refused: 169.254.169.254:80 is a cloud metadata address" in result.stderr
    # the impostor page on another host names 900006: it is stored under the link that led to it
    assert rows["https://www.ithome.com/0/900/006.htm"]["title"] == "真正的 900006 号文章"
    assert rows["https://www.ithome.com/0/900/005.htm"]["title"] == "冒名的页面"


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def test_control_characters_reach_neither_the_store_nor_the_terminal(tmp_path, newswatch, store_url):
    with HostileSite() as site:
        feed = site.feed
        feed.html("/news/c1.html", page("Page", ["Text."]))
        body = rss(
            [
                item(
                    link=feed.url("/news/c1.html") + "?a=1NULREF",
                    title="NULNULREF and\x01 bell\x07 escape\x1b[31m red",
                ),
                item(
                    link="https://news.example/c2\x00x",
                    title="Second",
                    raw="<content:encoded><![CDATA[<p>"
                    + ("Body with NUL\x00 and C1\u0085 " * 30)
                    + "</p>]]></content:encoded>",
                ),
            ]
        ).replace(
            '<rss version="2.0">',
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
        )
        body = body.replace("NULREF", "&#0;")
        config = tmp_path / "config.toml"
        config.write_text(
            textwrap.dedent(f"""
            [storage]
            url = "{store_url}"
            [crawl]
            retries = 0
            """)
            + source("controls", feed.route("/controls.xml", body)),
            encoding="utf-8",
        )
        result = newswatch("--config", config, "crawl", "--all")
    rows = read_rows(store_url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert len(rows) == 2
    for row in rows.values():
        assert not CONTROL.search(every_text(row)), row
    assert not CONTROL.search(result.stdout)
    assert any(row["title"] == "NUL and bell escape[31m red" for row in rows.values())
