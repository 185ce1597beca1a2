"""The web side of ``newswatch run`` over real HTTP: health, metrics, the Atom feed, the stories API.

The service runs as a subprocess fed by the fixture news site (as ``test_service`` runs it) and
alerts a user of the local Bot API server; the test reads what an operator's Prometheus, a feed
reader or a load balancer would read.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import feedparser
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.botapi import FakeBotAPI
from tests.fixtures.newssite import NewsSite
from tests.test_service import HISTORY, HISTORY_TEXT, NEWS, NEWS_TEXT, USER, Service, wait_for_first_round
from tests.test_service import write_config as service_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def get(url: str, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a GET, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_until(check: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout} s; log:\n{log.read_text()}"
        time.sleep(0.2)


def samples(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, parsed by prometheus_client's own parser."""
    status, headers, body = get(base + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


@pytest.fixture
def alerting(
    tmp_path: Path, site: NewsSite, botapi: FakeBotAPI, web_listen: str
) -> Iterator[tuple[Service, str, Path]]:
    """A service past its first round, alerting one Telegram user; (service, base URL, store file)."""
    botapi.add_private_chat(USER)
    site.add_ithome_article(HISTORY, HISTORY_TEXT)
    config = service_config(tmp_path / "config.toml", site, botapi, listen=web_listen)
    service = Service(config)
    try:
        botapi.send_text(USER, "/start")
        assert botapi.wait_for_message(USER, "Subscribed.", timeout=30), service.log.read_text()
        wait_for_first_round(config, service, timeout=90)  # a busy machine takes its time
        yield service, f"http://{web_listen}", tmp_path / "newswatch.db"
    finally:
        service.kill()


def test_health_metrics_feed_and_stories_follow_polls_and_alerts(
    alerting: tuple[Service, str, Path], site: NewsSite, botapi: FakeBotAPI
) -> None:
    service, base, _ = alerting
    wait_until(lambda: get(base + "/healthz")[0] == 200, 30, "healthy", service.log)
    status, headers, body = get(base + "/healthz")
    assert body == b"ok\n"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"

    before = samples(base)
    polls = ("newswatch_polls_total", (("outcome", "ok"), ("source", "ithome")))
    sent = ("newswatch_alerts_sent_total", ())
    assert before[polls] >= 1  # the first round
    wait_until(lambda: samples(base)[polls] > before[polls], 60, "another poll counted", service.log)

    site.add_ithome_article(NEWS, NEWS_TEXT)
    assert botapi.wait_for_message(USER, NEWS, timeout=60), service.log.read_text()
    wait_until(lambda: samples(base)[sent] > before[sent], 20, "the send counted", service.log)
    after = samples(base)
    assert after[("newswatch_alert_latency_seconds_count", ())] == 1
    assert after[("newswatch_stories_total", (("relevance", "relevant"),))] >= 2
    assert after[("newswatch_articles_total", (("source", "ithome"),))] >= 2
    assert after[("newswatch_source_up", (("source", "ithome"),))] == 1
    assert after[("newswatch_outbox_depth", ())] == 0
    assert after[("newswatch_poll_duration_seconds_count", (("source", "ithome"),))] >= 2
    assert after[("newswatch_telegram_429_total", ())] == 0

    status, headers, body = get(base + "/feed.xml")
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.bozo_exception
    assert [e.title for e in feed.entries] == [NEWS]  # the alert, not the history
    entry = feed.entries[0]
    assert entry.link.startswith("https://www.ithome.com/0/")
    assert {"microsoft", "CN"} <= {t.term for t in entry.tags}

    status, _, body = get(base + "/api/stories.json")
    stories = json.loads(body)
    assert status == 200 and [s["title"] for s in stories["stories"]] == [NEWS]
    assert stories["stories"][0]["tags"]["regions"] == ["CN"] and stories["next"] is None
    later = stories["stories"][0]["first_seen"]
    assert json.loads(get(base + "/api/stories.json?since=" + urllib.parse.quote(later))[2])["stories"] == []
    status, _, body = get(base + "/api/stories.json?since=yesterday")
    assert status == 400 and "since" in json.loads(body)["error"]

    assert service.terminate()[0] == 0
    assert "Traceback" not in service.log.read_text()


def healthcheck(base: str) -> subprocess.CompletedProcess[str]:
    script = Path(__file__).resolve().parent.parent / "deploy" / "newswatch-healthcheck"
    command = [sys.executable, str(script), "--url", base + "/healthz"]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


def _make_read_only(store: Path) -> Callable[[], None]:
    """Make the SQLite store (its file and write-ahead log) read-only; returns the undo. Root ignores
    permission bits, so for root the files are made immutable, much as a read-only remount would."""
    files = [str(p) for p in (store, store.with_name(store.name + "-wal")) if p.exists()]
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", *files]).returncode != 0:
            pytest.skip("running as root, and chattr +i is not available on this filesystem")
    else:
        for name in files:
            os.chmod(name, 0o444)

    def undo() -> None:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", *files], check=True)
        else:
            for name in files:
                os.chmod(name, 0o644)

    return undo


def test_healthz_turns_503_naming_the_store_when_it_is_made_read_only(
    alerting: tuple[Service, str, Path],
) -> None:
    service, base, store = alerting
    wait_until(lambda: get(base + "/healthz")[0] == 200, 30, "healthy", service.log)
    assert healthcheck(base).returncode == 0
    undo = _make_read_only(store)
    try:
        status, _, body = get(base + "/healthz")
        assert status == 503
        lines = body.decode().splitlines()
        assert lines[0] == "unhealthy" and len(lines) == 2, body
        assert lines[1].startswith("store: ") and "readonly" in lines[1], body
        probe = healthcheck(base)  # what the systemd unit runs
        assert probe.returncode == 1 and probe.stderr.startswith("newswatch unhealthy: store: ")
    finally:
        undo()
    wait_until(lambda: get(base + "/healthz")[0] == 200, 30, "healthy again", service.log)
    assert service.terminate()[0] == 0


def test_a_port_in_use_is_one_line_and_exit_status_2(
    tmp_path: Path, site: NewsSite, web_listen: str, newswatch
) -> None:
    host, port = web_listen.rsplit(":", 1)
    with socket.socket() as taken:
        taken.bind((host, int(port)))
        taken.listen()
        config = service_config(tmp_path / "config.toml", site, None, listen=web_listen)
        result = newswatch("--config", config, "run", timeout=60)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"web: cannot listen on {web_listen}" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
