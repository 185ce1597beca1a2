"""feedparser's own test feeds, crawled by newswatch and compared with feedparser on the same response.

The files of feedparser's suites (``encoding/``, ``illformed/``, ``wellformed/``; see the README of
``../shared/peers/feedparser``) are served from a local server with the headers their ``Header:``
lines declare (``application/xml`` when they declare none, as a feed server would), one source per
file, and crawled in one ``newswatch crawl``. What each source stored is compared with
``feedparser.parse`` on the same bytes and headers (Content-Location made absolute against the
file's URL, as any HTTP client resolves it), read through the crawler's documented normalization:
titles (an entry without one is named by the first sentence of its description, else its link),
identities (the canonical link) and, for entries stored from the feed alone, their text. Pages are
not part of the comparison: entry links point at hosts that do not resolve here, so what is stored
is the feed's own text. The store keeps one article per identity, so an entry another file stored
first (the suites reuse http://example.com/ a lot) counts as stored.

Per suite: **same**, **fewer** (entries feedparser reads that were not stored), **different**
(titles, identities or text differ) and **failed** (the source failed although feedparser reads a
feed). Where newswatch differs on purpose, the test prints why; any other difference fails it. The
counts are printed even without ``-s``. Never copy these files into the project: they are read
where they are, and the test skips when the folder is absent.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import feedparser
import pytest
from feedparser.encodings import convert_to_utf8
from sqlalchemy import select
from w3lib.url import canonicalize_url

from newswatch.storage import connect, schema
from scrapers.fetchguard import FetchPolicy
from scrapers.normalize import canonical_url, clean_line, clean_url, headline, html_to_text, shown_link
from tests.fixtures.hostile import Server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PEERS_ENV = "NEWSWATCH_FEEDPARSER_PEERS"
SUITES = ("encoding", "illformed", "wellformed")
_HEADER = re.compile(r"^Header:\s*([A-Za-z-]+):\s*(.*?)\s*$", re.M)


def peers_folder() -> Path | None:
    """$NEWSWATCH_FEEDPARSER_PEERS when set, else ``shared/peers/feedparser`` beside the repository
    (``/work/main``) or beside its worktree folder (``/work/wt/NAME``)."""
    if os.environ.get(PEERS_ENV):
        candidates = [Path(os.environ[PEERS_ENV])]
    else:
        candidates = [base / "shared" / "peers" / "feedparser" for base in (ROOT.parent, ROOT.parent.parent)]
    return next((c for c in candidates if (c / "wellformed").is_dir()), None)


@dataclass
class Peer:
    suite: str
    path: str  # relative to the peers folder
    body: bytes
    headers: dict[str, str]
    name: str = ""  # the source's name in the crawl
    url: str = ""


@dataclass
class Verdict:
    kind: str  # same | fewer | different | failed: what was stored, against what feedparser reads
    why: list[str] = field(default_factory=list)  # the deliberate differences that explain it
    explained: bool = True  # False: the difference is none of the deliberate ones
    detail: str = ""


def declared_headers(body: bytes) -> dict[str, str]:
    """The ``Header:`` lines of a test file (read in whatever charset feedparser reads it)."""
    text = convert_to_utf8({}, body, {}).decode("utf-8", "replace")
    headers = {name.lower(): value for name, value in _HEADER.findall(text.split("-->", 1)[0])}
    return {"content-type": "application/xml", **headers}


def expected_entries(peer: Peer) -> tuple[list[dict[str, str]], bool]:
    """What feedparser reads from the response, through the crawler's documented normalization: an
    id that is an http(s) URL stands in for a missing link (an id feedparser made the link does not),
    an entry without a title is named by the first sentence of its description (else its link).
    And whether feedparser reads a feed at all (a version, or entries). Raises what feedparser raises."""
    headers = {
        **peer.headers,
        "content-location": urljoin(peer.url, peer.headers.get("content-location", "")),
    }
    parsed = feedparser.parse(peer.body, response_headers=headers)
    entries = []
    for e in parsed.entries:
        summary = html_to_text(e.get("summary", ""))
        content = html_to_text(
            max((c.get("value", "") for c in e.get("content", []) or []), key=len, default="")
        )
        link, entry_id = clean_url(e.get("link", "")), clean_url(str(e.get("id", "")))
        if e.get("guidislink") and not link.startswith(("http://", "https://")):
            link = ""
        if not link and entry_id.startswith(("http://", "https://")):
            link = entry_id
        title = clean_line(e.get("title", "")) or headline(summary or content) or shown_link(link)
        entries.append({"title": title, "link": link, "id": entry_id, "text": content or summary})
    return entries, bool(parsed.get("version") or entries)


def identity(entry: dict[str, str]) -> str | tuple[str, str]:
    """What the store knows an entry by: its canonical link (as Scrapy tells pages apart: %7E is ~),
    a URI id, else (per feed) its id or its text."""
    if entry["link"]:
        return canonicalize_url(canonical_url(entry["link"]))
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", entry["id"]):
        return entry["id"]
    return (entry["id"], "" if entry["id"] else entry["title"] + "\n" + entry["text"])


def stored_rows(store: Path) -> dict[str, list[dict[str, Any]]]:
    engine = connect(f"sqlite:///{store}")
    by_source: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for row in conn.execute(select(schema.articles)).mappings():
            by_source.setdefault(row["source"], []).append(dict(row))
    engine.dispose()
    return by_source


def failing_sources(listing: str) -> dict[str, str]:
    """Failing source -> its reason, from ``newswatch sources``."""
    return {
        line.split()[0]: line.split("x) ", 1)[1].strip().split(None, 1)[-1]
        for line in listing.splitlines()[1:]
        if " failing (" in line
    }


@dataclass
class Crawl:
    peers: list[Peer]
    rows: dict[str, list[dict[str, Any]]]  # by source
    failing: dict[str, str]  # source -> why it failed
    owners: dict[str, str]  # stored identity -> the source that stored it
    policy: FetchPolicy


def compare(peer: Peer, crawl: Crawl) -> Verdict:
    """What a source stored against what feedparser reads from the same response. A difference is
    explained when the file is one newswatch reads differently on purpose (its charset, entities,
    references: ``deliberate_differences``), or when leaving out what newswatch leaves out on purpose
    (blank entries, a second entry under one identity, links the fetch guard refuses) makes it vanish."""
    rows = crawl.rows.get(peer.name, [])
    try:
        expected, is_feed = expected_entries(peer)
    except Exception as exc:  # feedparser itself breaks on this file
        kind = "different" if rows or peer.name in crawl.failing else "same"
        return Verdict(kind, ["feedparser raises on it; newswatch reads what it can"], True, repr(exc))
    # the store keeps one article per identity: an entry another file stored first is stored
    expected = [e for e in expected if crawl.owners.get(str(identity(e)), peer.name) == peer.name]
    read_differently = deliberate_differences(peer)
    if peer.name in crawl.failing:  # failed where feedparser reads a feed; else both refuse it
        kind = "failed" if is_feed else "same"
        detail = crawl.failing[peer.name]
        if kind == "failed" and not expected and detail.startswith("malformed feed"):
            read_differently.append(
                "a malformed feed without entries fails its source, so someone hears of it"
            )
        return Verdict(kind, read_differently, kind == "same" or bool(read_differently), detail)
    kind, detail = _match(rows, expected)
    left_out = []
    wanted = [e for e in expected if e["title"]]
    if len(wanted) < len(expected):
        left_out.append("entries with neither title, text nor link are not stored (nothing to store)")
    unique = list({identity(e): e for e in reversed(wanted)}.values())
    if len(unique) < len(wanted):
        left_out.append("entries known by one identity are one article")
    refused = [e for e in unique if e["link"] and crawl.policy.check(e["link"]).refusal]
    if refused:
        left_out.append(
            "links the fetch guard refuses (this machine's other ports) are not fetched or stored"
        )
    adjusted, _ = _match(rows, [e for e in unique if e not in refused])
    explained = adjusted == "same" or bool(read_differently)
    return Verdict(kind, read_differently + left_out if kind != "same" else [], explained, detail)


def _match(rows: list[dict[str, Any]], wanted: list[dict[str, str]]) -> tuple[str, str]:
    """same, fewer or different: the stored rows of a source against the entries it should have."""
    if len(rows) < len(wanted):
        return "fewer", f"stored {len(rows)} of {len(wanted)}"
    stored_titles = Counter(r["title"] for r in rows)
    wanted_titles = Counter(e["title"] for e in wanted)
    # an entry without a link is stored under its id or a digest, after a "#": no link to compare
    stored_links = {
        r["url"] for r in rows if r["url"].startswith(("http://", "https://")) and "#" not in r["url"]
    }
    wanted_links = {canonical_url(e["link"]) for e in wanted if e["link"]}
    texts_ok = all(
        any(r["body"] == e["text"] for e in wanted if e["title"] == r["title"])
        for r in rows
        if r.get("page_missing")
    )
    if stored_titles != wanted_titles or stored_links != wanted_links or not texts_ok:
        return "different", (
            f"titles {sorted(stored_titles)} vs {sorted(wanted_titles)}; "
            f"links {sorted(stored_links)} vs {sorted(wanted_links)}; texts {'ok' if texts_ok else 'differ'}"
        )
    return "same", ""


def deliberate_differences(peer: Peer) -> list[str]:
    """Where newswatch reads a file differently from feedparser on purpose."""
    read: dict[str, Any] = {}
    text = convert_to_utf8(dict(peer.headers), peer.body, {}).decode("utf-8", "replace")
    convert_to_utf8(dict(peer.headers), peer.body, read)
    why = []
    if "<!ENTITY" in text.split("<rss", 1)[0].split("<feed", 1)[0].split("<rdf:RDF", 1)[0]:
        why.append("internal DTD entities are never expanded (an entity bomb defence)")
    if re.search(r"&#(x0*[dD][89a-fA-F][0-9a-fA-F]{2}|0*5[5-7]\d{3});", text):
        why.append("references to surrogates read as U+FFFD")
    declared = (peer.headers.get("content-type", "") + " " + text[:200]).lower()
    if re.search(r"\b(gbk|gb2312|cp936)\b", declared):
        why.append("GB2312/GBK read as GB18030")
    if re.search(r"(?i)(<|&lt;)(iframe|!')|<!\[CDATA\[<!\[CDATA\[", text):
        why.append(
            "entry HTML is read as an HTML parser reads it, not as feedparser's sanitizer rewrites it (an "
            "iframe's content, a bogus <!, nested CDATA): newswatch reads text out of it and never shows it"
        )
    if read.get("encoding") in ("windows-1252", "iso-8859-2") and read.get("encoding") not in declared:
        why.append(
            "feedparser falls back to a Windows code page for the whole document; newswatch reads the "
            "declared charset with bad bytes replaced, or the one charset-normalizer finds"
        )
    return why


@pytest.fixture(scope="module")
def crawl(tmp_path_factory, newswatch) -> Crawl:
    folder = peers_folder()
    if folder is None:
        pytest.skip(
            f"feedparser's test feeds not found (set {PEERS_ENV} or put them in ../shared/peers/feedparser)"
        )
    found = [
        Peer(suite, str(path.relative_to(folder)), path.read_bytes(), {})
        for suite in SUITES
        for path in sorted((folder / suite).rglob("*.xml"))
    ]
    directory = tmp_path_factory.mktemp("peers")
    with Server() as server:
        sources = []
        for number, peer in enumerate(found):
            peer.headers = declared_headers(peer.body)
            peer.name = f"peer-{number:04d}"
            peer.url = server.route("/" + peer.path, peer.body, content_type="", headers=peer.headers)
            sources.append(
                f'[[sources]]\nname = "{peer.name}"\nkind = "rss"\nurl = "{peer.url}"\ninterval = "1h"\n'
            )
        config = directory / "config.toml"
        config.write_text(
            '[storage]\nurl = "sqlite:///store.db"\n[crawl]\ntimeout = "5s"\nretries = 0\n'
            + "\n".join(sources),
            encoding="utf-8",
        )
        result = newswatch("--config", config, "crawl", "--all", "--quiet", timeout=900)
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        listing = newswatch("--config", config, "sources").stdout
    rows = stored_rows(directory / "store.db")
    owners = {
        canonicalize_url(row["url"]) if row["url"].startswith("http") else row["url"]: source
        for source, stored in rows.items()
        for row in stored
    }
    return Crawl(found, rows, failing_sources(listing), owners, FetchPolicy([p.url for p in found]))


def test_feedparsers_own_feeds_are_stored_as_feedparser_reads_them(crawl, capsys):
    verdicts = {p.path: compare(p, crawl) for p in crawl.peers}

    counts = {suite: Counter() for suite in SUITES}
    for peer in crawl.peers:
        counts[peer.suite][verdicts[peer.path].kind] += 1
    unexplained = {path: v for path, v in verdicts.items() if not v.explained}
    explained = Counter(reason for v in verdicts.values() if v.kind != "same" for reason in v.why)
    with capsys.disabled():
        print("\nfeedparser's test feeds, stored by newswatch vs feedparser.parse on the same response:")
        for suite in SUITES:
            c = counts[suite]
            print(
                f"  {suite:<11} {sum(c.values()):5d} files: same {c['same']}, fewer {c['fewer']}, "
                f"different {c['different']}, failed {c['failed']}"
            )
        for reason, n in explained.most_common():
            print(f"  on purpose ({n} files): {reason}")
        for path, v in sorted(unexplained.items())[:40]:
            print(f"  UNEXPLAINED {v.kind}: {path}: {v.detail}")

    assert not unexplained, f"{len(unexplained)} files differ from feedparser for no stated reason"
