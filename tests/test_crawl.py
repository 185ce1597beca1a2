"""`newswatch crawl` end to end: the real CLI in a subprocess (real Scrapy, feedparser, trafilatura and
SQLAlchemy) against the local NewsSite. Each crawl costs a process, so one crawl serves several checks:
the module fixtures run the crawls once and the tests below read what happened."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from parsel import Selector
from sqlalchemy import select

from newswatch import cli
from newswatch.storage import connect, schema
from scrapers import ithome
from tests.fixtures.newssite import AD_TIPS, HOT_LIST, Article, NewsSite, RequestRecord

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
LATE_EVENING_UTC = datetime(2024, 10, 20, 17, 0, 5, tzinfo=UTC)  # 01:00:05 on Oct 21 in Beijing
ZH_BRIEF = [
    "据报道，谷歌已于本周停止向香港用户提供 Gemini 服务，原因是当地监管要求。",
    "此前已有用户反映无法登录。",
]


@dataclass
class Run:
    result: subprocess.CompletedProcess[str]
    requests: list[RequestRecord]  # what the site saw during this run

    def statuses(self, path: str) -> list[int]:
        return [r.status for r in self.requests if r.path == path]

    def hits(self, prefix: str) -> int:
        return sum(1 for r in self.requests if r.path.startswith(prefix))


def run(site: NewsSite, newswatch, *args: Any) -> Run:
    site.reset_requests()
    result = newswatch(*args)
    return Run(result, list(site.requests))


def write(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def source(name: str, kind: str, url: str, extra: str = "") -> str:
    return f'\n[[sources]]\nname = "{name}"\nkind = "{kind}"\nurl = "{url}"\ninterval = 5\n{extra}'


def stored(config: Path) -> dict[str, dict[str, Any]]:
    """Every stored article by canonical URL."""
    url = f"sqlite:///{config.parent / 'store.db'}"
    engine = connect(url)
    with engine.connect() as conn:
        rows = {r["url"]: dict(r) for r in conn.execute(select(schema.articles)).mappings()}
    engine.dispose()
    return rows


def listing_row(listing: str, name: str) -> str:
    return next(line for line in listing.splitlines() if line.startswith(f"{name} "))


# --- a healthy run: ITHome feed, a stub RSS feed, a GBK feed, a full-content Atom feed -----------------


@dataclass
class Healthy:
    config: Path
    first: Run
    again: Run
    listing: str
    watched: Article
    ithome: list[Article]
    promos: list[Article]
    stubs: list[Article]
    gbk: Article
    full: list[Article]


@pytest.fixture(scope="module")
def healthy(tmp_path_factory, newswatch) -> Healthy:
    with NewsSite() as site:
        watched = site.add_ithome_article(
            "微软：Azure OpenAI 服务将停止向中国大陆个人开发者提供",
            [
                "微软发布通知称，将于 10 月 21 日起停止向中国大陆个人开发者提供 Azure OpenAI 服务。",
                "企业客户不受影响，可继续使用。",
            ],
            published=LATE_EVENING_UTC,
            author="远洋",
            source="微软",
            editor="汪淼",
            tags=("微软",),
        )
        generated = site.add_generated_ithome_articles(8)  # the 7th is a JD.com promo on lapin.ithome.com
        site.add_feed("verge")
        stubs = [
            site.add_feed_item(
                "verge",
                f"Story {i}: Gemini leaves another region",
                [
                    f"Google said on day {i} that Gemini would stop working there.",
                    " ".join(["Users were told to export their data."] * 3),
                ],
                link_params="?utm_source=rss&utm_medium=feed",
            )
            for i in range(2)
        ]
        site.add_feed("kr36", encoding="gbk", lang="zh")
        gbk = site.add_feed_item("kr36", "谷歌停止向香港用户提供 Gemini 服务", ZH_BRIEF)
        site.add_feed("register", kind="atom", full_content=True)
        full = [
            site.add_feed_item(
                "register",
                f"Full story {i}",
                [" ".join(["A long paragraph of feed text."] * 20), "And a second one."],
            )
            for i in range(2)
        ]
        config = write(
            tmp_path_factory.mktemp("healthy") / "config.toml",
            '[storage]\nurl = "sqlite:///store.db"\n'
            + source("ithome", "ithome", f"{site.base_url}/rss/")
            + source("verge", "rss", f"{site.base_url}/feeds/verge.xml")
            + source("kr36", "rss", f"{site.base_url}/feeds/kr36.xml", 'lang = "zh"\n')
            + source("register", "rss", f"{site.base_url}/feeds/register.xml"),
        )
        first = run(site, newswatch, "--config", config, "crawl", "--all")
        again = run(site, newswatch, "--config", config, "crawl", "--all")
        listing = newswatch("--config", config, "sources").stdout
    return Healthy(
        config,
        first,
        again,
        listing,
        watched,
        [watched, *(a for a in generated if not a.promo)],
        [a for a in generated if a.promo],
        stubs,
        gbk,
        full,
    )


def test_a_clean_crawl_exits_0_and_prints_a_line_per_new_article_and_a_summary(healthy):
    lines = healthy.first.result.stdout.splitlines()
    stored_count = len(healthy.ithome) + len(healthy.stubs) + 1 + len(healthy.full)

    assert healthy.first.result.returncode == 0, healthy.first.result.stderr
    assert lines[-1] == f"{stored_count} new, 0 already known, 0 failed"
    assert len(lines) == stored_count + 1
    watched_line = next(line for line in lines if healthy.watched.title in line)
    assert re.match(
        rf"^ithome  2024-10-20 17:00Z  {re.escape(healthy.watched.title)}  "
        rf"{re.escape(healthy.watched.canonical)}  ",
        watched_line,
    )


def test_each_new_article_line_shows_its_relevance_tags_and_story(healthy):
    lines = healthy.first.result.stdout.splitlines()
    azure = next(line for line in lines if healthy.watched.title in line)
    gbk = next(line for line in lines if healthy.gbk.title in line)
    other = next(line for line in lines if healthy.full[0].title in line)

    assert "RELEVANT 1.00 [microsoft,openai,azure openai | CN | discontinue]" in azure
    assert "RELEVANT" in gbk and "| HK |" in gbk
    assert "RELEVANT" not in other
    assert re.search(r"  s-[0-9a-f]{12}$", azure)
    row = stored(healthy.config)[healthy.watched.canonical]
    assert row["relevant"] and row["tags"]["regions"] == ["CN"] and row["story_id"] == azure.split()[-1]


def test_ithome_article_pages_are_parsed_into_clean_articles(healthy):
    row = stored(healthy.config)[healthy.watched.canonical]

    assert row["source"] == "ithome"
    assert row["title"] == healthy.watched.title
    assert row["published"] == LATE_EVENING_UTC  # the page says 2024-10-21 01:00:05, Beijing time
    assert row["author"] == "远洋"
    assert row["body"] == "\n".join(healthy.watched.paragraphs)
    assert row["body"].startswith("IT之家 10 月 21 日消息，微软发布通知称")
    assert row["image"] == healthy.watched.image_url  # from data-original, not the lazy placeholder
    assert row["lang"] == "zh"


def test_ithome_bodies_carry_no_ads_sidebar_or_topic_bar(healthy):
    rows = stored(healthy.config)
    bodies = [rows[a.canonical]["body"] for a in healthy.ithome]

    assert all(body == "\n".join(a.paragraphs) for body, a in zip(bodies, healthy.ithome, strict=True))
    for body in bodies:
        assert AD_TIPS not in body and "广告声明" not in body
        assert "专题" not in body and "查看更多相关新闻" not in body
        assert not any(headline in body for headline in HOT_LIST)  # the fake OpenAI headline included
    assert [rows[a.canonical]["image"] for a in healthy.ithome] == [a.image_url or "" for a in healthy.ithome]


def test_ithome_promotions_are_skipped_and_never_fetched(healthy):
    rows = stored(healthy.config)

    assert healthy.promos
    for promo in healthy.promos:
        assert promo.canonical not in rows
        assert promo.title not in healthy.first.result.stdout
        assert healthy.first.hits(promo.path) == 0
    assert sum(1 for r in rows.values() if r["source"] == "ithome") == len(healthy.ithome)


def test_stub_feeds_get_their_text_from_the_article_page(healthy):
    rows = stored(healthy.config)

    for item in healthy.stubs:
        row = rows[item.canonical]  # the utm_* parameters of the feed link are not part of the identity
        assert item.link != item.canonical
        assert healthy.first.hits(item.path) == 1
        assert row["title"] == item.title
        assert row["body"] == "\n".join(item.paragraphs)  # no navigation, related links, newsletter, cookies
        assert row["published"] == item.published
        assert row["author"] == "Staff Reporter"
        assert row["lang"] == "en"


def test_short_chinese_pages_in_gbk_are_extracted_paragraph_by_paragraph(healthy):
    row = stored(healthy.config)[healthy.gbk.canonical]

    assert row["body"] == "\n".join(ZH_BRIEF)
    assert row["title"] == "谷歌停止向香港用户提供 Gemini 服务"
    assert row["lang"] == "zh"


def test_full_content_feeds_need_no_page_fetch(healthy):
    rows = stored(healthy.config)

    assert healthy.first.hits("/news/register/") == 0
    for item in healthy.full:
        assert rows[item.canonical]["body"] == "\n".join(item.paragraphs)


def test_requests_name_the_bot(healthy):
    agents = {r.headers.get("User-Agent", "") for r in healthy.first.requests}

    assert agents and all(agent.startswith("newswatch/") for agent in agents)


def test_crawling_again_right_away_prints_nothing_new_and_gets_304s(healthy):
    feeds = ["/rss/", "/feeds/verge.xml", "/feeds/kr36.xml", "/feeds/register.xml"]

    assert healthy.again.result.returncode == 0
    assert healthy.again.result.stdout == "0 new, 0 already known, 0 failed\n"
    assert [healthy.first.statuses(path) for path in feeds] == [[200]] * 4
    assert [healthy.again.statuses(path) for path in feeds] == [[304]] * 4
    assert len(healthy.again.requests) == 4  # and not one article page
    conditional = next(r for r in healthy.again.requests if r.path == "/rss/")
    assert conditional.headers.get("If-None-Match", "").startswith('"')


def test_sources_lists_each_source_as_ok_with_its_article_count(healthy):
    for name, count in [("ithome", len(healthy.ithome)), ("verge", 2), ("kr36", 1), ("register", 2)]:
        row = listing_row(healthy.listing, name)
        assert " ok " in row
        assert re.search(rf"\s{count}\s*$", row), row


# --- broken sources next to healthy ones ----------------------------------------------------------------


@dataclass
class Broken:
    first: Run
    second: Run
    listing: str
    before: dict[str, dict[str, Any]]
    after: dict[str, dict[str, Any]]
    good: list[Article]
    flaky_ok: Article
    flaky_gone: Article


BROKEN = {
    "hang": ("/broken/hang.xml", "timed out after 2 s fetching"),
    "error-500": ("/broken/500.xml", "HTTP 500 from"),
    "gone": ("/broken/404.xml", "HTTP 404 from"),
    "loop": ("/broken/redirect-loop.xml", "max redirections reached"),
    "huge": ("/broken/huge.xml", "response larger than crawl.max_bytes (1000000 bytes) from"),
    "huge-chunked": ("/broken/huge-chunked.xml", "response larger than crawl.max_bytes (1000000 bytes) from"),
    "dribble": ("/broken/slow-body.xml", "timed out after 2 s fetching"),
    "blocked": ("/broken/html-error.xml", "an HTML page, not RSS/Atom"),
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory, newswatch) -> Broken:
    directory = tmp_path_factory.mktemp("broken")
    with NewsSite() as site:
        site.add_feed("tech")
        good = [site.add_feed_item("tech", f"Healthy story {i}", [f"Paragraph {i}. " * 30]) for i in range(2)]
        site.add_feed("flaky")
        flaky_ok = site.add_feed_item("flaky", "This page loads", ["It does. " * 30])
        flaky_gone = site.add_feed_item(
            "flaky", "This page is gone", ["Never served."], link_params="-deleted"
        )
        crawl = '[crawl]\ntimeout = "2s"\nretries = 1\nmax_bytes = 1000000\n'
        healthy_sources = source("tech", "rss", f"{site.base_url}/feeds/tech.xml") + source(
            "flaky", "rss", f"{site.base_url}/feeds/flaky.xml"
        )
        broken_sources = "".join(
            source(name, "rss", site.base_url + path) for name, (path, _) in BROKEN.items()
        )
        config = write(
            directory / "config.toml",
            '[storage]\nurl = "sqlite:///store.db"\n' + crawl + healthy_sources + broken_sources,
        )
        first = run(site, newswatch, "--config", config, "crawl", "--all")
        before = stored(config)
        # "tech" starts serving an error page instead of its feed
        config.write_text(config.read_text().replace("/feeds/tech.xml", "/broken/html-error.xml"))
        second = run(site, newswatch, "--config", config, "crawl", "tech", "flaky")
        after = stored(config)
        listing = newswatch("--config", config, "sources").stdout
    return Broken(first, second, listing, before, after, good, flaky_ok, flaky_gone)


def test_a_failed_source_exits_1_and_each_is_reported_on_its_own_line(broken):
    out = broken.first.result.stdout

    assert broken.first.result.returncode == 1
    for name, (_, reason) in BROKEN.items():
        assert len(re.findall(rf"^FAILED {name}: {re.escape(reason)}", out, re.M)) == 1, out
    # 4 new: the healthy articles, and the one whose page is gone, from its feed (see below)
    assert out.splitlines()[-1] == f"4 new, 0 already known, {len(BROKEN)} failed ({', '.join(BROKEN)})"


def test_healthy_sources_store_their_articles_in_the_same_run(broken):
    gone = broken.flaky_gone.canonical + "-deleted"  # its feed link; its page answers 404

    assert {a.canonical for a in broken.good} | {broken.flaky_ok.canonical, gone} == set(broken.before)
    assert (broken.before[gone]["title"], broken.before[gone]["page_missing"]) == ("This page is gone", True)


def test_server_errors_are_retried_and_redirect_loops_are_cut(broken):
    assert broken.first.statuses("/broken/500.xml") == [500, 500]  # crawl.retries = 1
    assert broken.first.statuses("/broken/hang.xml") == [0, 0]
    assert broken.first.hits("/broken/redirect-loop") <= 12


def test_sources_marks_failing_sources_with_the_reason(broken):
    for name, (_, reason) in BROKEN.items():
        row = listing_row(broken.listing, name)
        assert "failing (1x)" in row and reason in row, row
    assert "failing (1x)" in listing_row(broken.listing, "tech")
    assert "an HTML page, not RSS/Atom" in listing_row(broken.listing, "tech")


def test_a_source_that_breaks_keeps_what_it_stored(broken):
    assert broken.second.result.returncode == 1
    assert broken.second.result.stdout.splitlines()[-1] == "0 new, 1 already known, 1 failed (tech)"
    assert broken.after == broken.before
    assert re.search(r"\s2\s+an HTML page", listing_row(broken.listing, "tech"))


def test_an_article_that_failed_is_tried_again_on_the_next_poll(broken):
    flaky_row = listing_row(broken.listing, "flaky")

    assert " ok, 1 failed " in flaky_row and "HTTP 404 from" in flaky_row
    assert broken.first.statuses(broken.flaky_gone.path + "-deleted") == [404]
    # no validators were kept for "flaky", so its feed is fetched again, and only the failed page with it
    assert broken.second.statuses("/feeds/flaky.xml") == [200]
    assert broken.second.statuses(broken.flaky_gone.path + "-deleted") == [404]
    assert broken.second.hits(broken.flaky_ok.path) == 0


def test_an_article_the_store_refuses_fails_alone_and_its_source_is_polled_again(tmp_path, newswatch):
    """Articles are stored in batches, and one the database refuses (a trigger here, as a constraint
    or a bad value would) fails alone: the other articles of its batch and of its own source are
    stored. Its source keeps no validators, so the next poll reads its feed again; the other answers
    304."""
    with NewsSite() as site:
        feeds = {name: site.add_feed(name, full_content=True) for name in ("calm", "picky")}
        for name in feeds:
            for i in range(3):
                site.add_feed_item(name, f"{name} story {i}", [f"{name} paragraph {i} says a lot. " * 30])
        site.add_feed_item("picky", "REFUSED story", ["A story the store will not take. " * 30])
        config = write(
            tmp_path / "config.toml",
            '[storage]\nurl = "sqlite:///store.db"\n'
            + "".join(source(n, "rss", f.url) for n, f in feeds.items()),
        )
        engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON articles WHEN NEW.title LIKE 'REFUSED%' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        engine.dispose()
        first = run(site, newswatch, "--config", config, "crawl", "--all")
        again = run(site, newswatch, "--config", config, "crawl", "--all")
        listing = newswatch("--config", config, "sources").stdout

    assert first.result.stdout.splitlines()[-1] == "6 new, 0 already known, 0 failed", first.result.stdout
    assert sorted(row["title"] for row in stored(config).values()) == [
        f"{name} story {i}" for name in ("calm", "picky") for i in range(3)
    ]
    picky = listing_row(listing, "picky")
    assert "ok, 1 failed" in picky and "cannot store" in picky and "/refused-story-" in picky, picky
    assert again.statuses("/feeds/calm.xml") == [304]
    assert again.statuses("/feeds/picky.xml") == [200]
    assert again.result.stdout.splitlines()[-1] == "0 new, 3 already known, 0 failed"


# --- by hand --------------------------------------------------------------------------------------------


def test_scrapy_crawl_runs_a_configured_source_from_the_repo_root(site, tmp_path):
    articles = site.add_generated_ithome_articles(8)
    config = write(
        tmp_path / "config.toml",
        '[storage]\nurl = "sqlite:///store.db"\n' + source("ithome-list", "ithome", f"{site.base_url}/list/"),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env |= {"NEWSWATCH_CONFIG": str(config), "PYTHONPATH": str(ROOT)}

    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "ithome-list", "-s", "LOG_LEVEL=WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    rows = stored(config)
    assert set(rows) == {a.canonical for a in articles if not a.promo}
    assert all(site.hits(a.path) == 0 for a in articles if a.promo)
    assert all(rows[a.canonical]["title"] == a.title for a in articles if not a.promo)


def test_ithome_list_and_tag_pages_give_article_links_without_promotions(site):
    articles = site.add_generated_ithome_articles(8)
    brand = articles[0].tags[0]

    def links(path: str) -> list[str]:
        with urllib.request.urlopen(site.base_url + path, timeout=10) as response:
            return [href for href, _title in ithome.list_links(Selector(text=response.read().decode()))]

    assert links("/list/") == [a.link for a in articles if not a.promo]
    assert links(f"/tag/{quote(brand)}") == [a.link for a in articles if brand in a.tags and not a.promo]


def test_ithome_mobile_pages_parse_like_desktop_ones(site):
    article = site.add_ithome_article(
        "小米澎湃 OS 新版推送", ["第一段。", "第二段。"], published=LATE_EVENING_UTC, author="远洋"
    )
    with urllib.request.urlopen(article.mobile_url, timeout=10) as response:
        page = ithome.parse_article(Selector(text=response.read().decode()))

    assert (page.title, page.author) == ("小米澎湃 OS 新版推送", "远洋")
    assert page.body == "\n".join(article.paragraphs)
    assert page.published == LATE_EVENING_UTC.replace(second=0)  # the mobile page shows minutes only


def test_an_unknown_source_name_is_one_line_and_exit_2(tmp_path, capsys):
    config = write(
        tmp_path / "config.toml",
        source("verge", "rss", "https://www.theverge.com/rss/index.xml").replace("interval = 5", ""),
    )

    status = cli.main(["--config", str(config), "crawl", "vrege"])

    assert status == 2
    assert capsys.readouterr().err == f"error: {config}: no source named 'vrege' (configured: verge)\n"
