"""`newswatch sources check URL`: real Scrapy in a subprocess against the local NewsSite.

One site serves every case; each test runs the command once and reads what it printed and what the
site saw (the requests, their headers)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newswatch import cli
from tests.fixtures.newssite import NewsSite, RequestRecord

pytestmark = pytest.mark.slow

USER_AGENT = "newswatch-check-test/1.0"
PUBLISHED = datetime(2024, 10, 21, 1, 30, tzinfo=UTC)


@dataclass
class Checked:
    result: subprocess.CompletedProcess[str]
    requests: list[RequestRecord]

    def field(self, label: str) -> str:
        """The value printed after ``label:``."""
        prefix = f"{label}:"
        line = next((line for line in self.result.stdout.splitlines() if line.startswith(prefix)), None)
        assert line is not None, f"no {label!r} line in:\n{self.result.stdout}{self.result.stderr}"
        return line[len(prefix) :].strip()

    def rows(self) -> list[str]:
        """The detector's lines, one per entry."""
        return [line.strip() for line in self.result.stdout.splitlines() if line.startswith(" ")]


@pytest.fixture(scope="module")
def site() -> Iterator[NewsSite]:
    with NewsSite() as running:
        running.add_feed("tech")
        running.add_feed_item(
            "tech",
            "Google stops offering Gemini to users in Hong Kong",
            ["Google has stopped offering its Gemini chatbot to users in Hong Kong, citing local rules."],
            published=PUBLISHED,
        )
        running.add_feed_item(
            "tech", "A new phone launches", ["Nothing else."], published=PUBLISHED.replace(hour=0)
        )
        running.add_feed("kr36", encoding="gbk", lang="zh")
        running.add_feed_item(
            "kr36", "谷歌停止向香港用户提供 Gemini 服务", ["据报道，谷歌已停止向香港用户提供 Gemini 服务。"]
        )
        running.add_feed("register", kind="atom")
        running.add_feed_item("register", "An Atom entry", ["Text."])
        running.add_feed("slashdot", kind="rdf")
        running.add_feed_item("slashdot", "An RDF item", ["Text."])
        running.add_ithome_article(
            "微软：Azure OpenAI 服务将停止向中国大陆个人开发者提供",
            ["微软发布通知称，将于 10 月 21 日起停止向中国大陆个人开发者提供 Azure OpenAI 服务。"],
        )
        yield running


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("check") / "config.toml"
    path.write_text(
        '[storage]\nurl = "sqlite:///store.db"\n\n'
        f'[crawl]\nuser_agent = "{USER_AGENT}"\ntimeout = "5s"\nretries = 0\nallow_private = true\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def check(site: NewsSite, config: Path, newswatch):
    def run(path: str, *options: str) -> Checked:
        site.reset_requests()
        result = newswatch("--config", config, "sources", "check", f"{site.base_url}{path}", *options)
        return Checked(result, list(site.requests))

    return run


def test_a_feed_with_validators_is_described_and_answers_a_conditional_get(check, site, config):
    checked = check("/feeds/tech.xml")

    assert checked.result.returncode == 0, checked.result.stderr
    assert checked.field("status") == "200 OK"
    assert checked.field("final url") == f"{site.base_url}/feeds/tech.xml"
    assert checked.field("content type") == "application/rss+xml; charset=utf-8"
    assert checked.field("charset") == "declared utf-8, read as utf-8"
    assert checked.field("type") == "RSS 2.0 (rss20)"
    assert checked.field("entries") == "2"
    assert checked.field("dates") == "newest 2024-10-21 01:30Z, oldest 2024-10-21 00:30Z"
    assert checked.field("validators").startswith('ETag "')
    assert "Last-Modified Mon, 21 Oct 2024 01:30:00 GMT" in checked.field("validators")
    assert checked.field("conditional get") == (
        "yes: one more request, with If-None-Match and If-Modified-Since, answered 304 Not Modified"
    )
    google, phone = checked.rows()
    assert google.startswith(
        "2024-10-21 01:30Z  RELEVANT 1.00 [google,gemini | HK | discontinue]  "
        f"Google stops offering Gemini to users in Hong Kong  {site.base_url}/news/tech/google-stops-"
    )
    assert phone.startswith(
        f"2024-10-21 00:30Z  no       0.00 [? | ? | ?]  A new phone launches  {site.base_url}/news/tech/"
    )
    assert checked.field("verdict") == 'usable as kind = "rss"'
    # two requests, both with the crawl's own settings; no article page; nothing stored
    assert [(r.path, r.status) for r in checked.requests] == [
        ("/feeds/tech.xml", 200),
        ("/feeds/tech.xml", 304),
    ]
    assert {r.headers["User-Agent"] for r in checked.requests} == {USER_AGENT}
    assert "If-None-Match" in checked.requests[1].headers
    assert not (config.parent / "store.db").exists()


def test_a_feed_without_validators_gets_no_second_request(check):
    checked = check("/broken/gb18030-undeclared.xml")

    assert checked.result.returncode == 0, checked.result.stderr
    assert checked.field("content type") == "text/xml"
    assert checked.field("charset") == "declared nowhere, read as gb18030"
    assert checked.field("validators") == "none"
    assert checked.field("conditional get") == (
        "not possible: no ETag or Last-Modified, so every poll downloads the whole body"
    )
    assert "  𠮷野家推出人工智能点餐服务  " in checked.rows()[0]
    assert len(checked.requests) == 1


def test_a_gbk_feed_is_read_as_gb18030_and_its_chinese_text_detected(check):
    checked = check("/feeds/kr36.xml")

    assert checked.result.returncode == 0, checked.result.stderr
    assert checked.field("charset") == "declared gbk, read as gb18030"
    [row] = checked.rows()
    assert "RELEVANT 1.00 [google,gemini | HK |" in row and "  谷歌停止向香港用户提供 Gemini 服务  " in row


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/feeds/register.xml", "Atom 1.0 (atom10)"), ("/feeds/slashdot.xml", "RSS 1.0 (rss10)")],
)
def test_the_feed_format_is_named(check, path, kind):
    checked = check(path)

    assert checked.result.returncode == 0, checked.result.stderr
    assert checked.field("type") == kind
    assert checked.field("entries") == "1"


def test_an_html_page_is_not_a_feed_and_the_feeds_it_links_to_are_named(check, site):
    checked = check("/news/tech/")

    assert checked.result.returncode == 1
    assert checked.field("type") == "an HTML page, not RSS/Atom"
    assert checked.field("links to feed") == f"{site.base_url}/feeds/tech.xml"
    assert checked.field("verdict") == "not usable: an HTML page, not RSS/Atom"
    assert checked.rows() == []


def test_a_404_is_reported_with_its_status(check):
    checked = check("/broken/404.xml")

    assert checked.result.returncode == 1
    assert checked.field("status") == "404 Not Found"
    assert checked.field("verdict") == "not usable: HTTP 404"
    assert len(checked.requests) == 1


def test_an_ithome_list_page_is_read_as_the_ithome_reader_reads_it(check):
    checked = check("/list/", "--kind", "ithome")

    assert checked.result.returncode == 0, checked.result.stderr
    assert checked.field("type").startswith("an ITHome list page")
    assert checked.field("entries") == "1"
    assert checked.field("detector") == "newest 1, on titles only (no article page fetched)"
    [row] = checked.rows()
    assert "RELEVANT" in row and "| CN |" in row
    assert checked.field("verdict") == 'usable as kind = "ithome"'
    assert [r.path for r in checked.requests] == ["/list/"]


def test_a_server_that_does_not_answer_is_one_failure_line(check, site):
    checked = check("/broken/redirect-loop.xml")

    assert checked.result.returncode == 1
    assert "max redirections" in checked.field("failed")
    assert checked.field("verdict").startswith("not usable: max redirections")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "file:///etc/passwd", "ftp://example.com/feed"])
def test_a_url_that_is_not_http_is_refused_before_anything_is_fetched(config, capsys, url):
    status = cli.main(["--config", str(config), "sources", "check", url])

    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert err == f"error: {url!r}: not an absolute http(s) URL\n"
