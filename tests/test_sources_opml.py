"""`newswatch sources import` and `sources export`: OPML in and out of config.toml.

The CLI runs in a subprocess; the files it writes are read back with tomllib, config.load, ElementTree
and listparser, never with the code under test."""

from __future__ import annotations

import os
import stat
import textwrap
import tomllib
from email.utils import parsedate_to_datetime
from pathlib import Path
from xml.etree import ElementTree

import listparser
import pytest

from newswatch import config as cfg
from newswatch import configedit

CONFIG = """\
# operator's notes: keep me
[storage]
url = "sqlite:///store.db"   # next to this file

[watch]
keywords = ["Azure OpenAI"]  # a comment after a value

# --- sources ---
[[sources]]
name = "ars-technica"
kind = "rss"
url = "https://feeds.arstechnica.com/arstechnica/index"
interval = "15m"
lang = "en"
"""


def opml(*outlines: str, version: str = "1.0") -> str:
    body = "\n".join(f"    {o}" for o in outlines)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<opml version="{version}">\n'
        f"  <head><title>exported by a reader</title></head>\n  <body>\n{body}\n  </body>\n</opml>\n"
    )


def feed(text: str, url: str, **extra: str) -> str:
    attributes = "".join(f' {k}="{v}"' for k, v in extra.items())
    return f'<outline type="rss" text="{text}" xmlUrl="{url}"{attributes}/>'


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def opml_file(tmp_path: Path):
    def write(text: str, name: str = "feeds.opml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def sources(path: Path) -> list[dict]:
    return tomllib.loads(path.read_text(encoding="utf-8")).get("sources", [])


# --- import ------------------------------------------------------------------------------------------


def test_import_appends_sources_and_keeps_the_file_as_it_was(newswatch, config, opml_file):
    feeds = opml_file(
        opml(
            feed("Rest of World", "https://restofworld.org/feed/latest"),
            feed("TechNode", "https://technode.com/feed/"),
        )
    )

    result = newswatch("--config", config, "sources", "import", feeds)

    assert result.returncode == 0, result.stderr
    text = config.read_text(encoding="utf-8")
    assert text.startswith(CONFIG)  # every comment, blank line and key as it was
    assert text[len(CONFIG) :] == textwrap.dedent(
        """
        [[sources]]
        name = "rest-of-world"
        kind = "rss"
        url = "https://restofworld.org/feed/latest"
        interval = "15m"

        [[sources]]
        name = "technode"
        kind = "rss"
        url = "https://technode.com/feed/"
        interval = "15m"
        """
    )
    loaded = cfg.load(config)
    assert [(s.name, s.kind, s.interval) for s in loaded.sources[1:]] == [
        ("rest-of-world", "rss", 900.0),
        ("technode", "rss", 900.0),
    ]
    assert result.stdout.splitlines() == [
        "added  rest-of-world    rss     https://restofworld.org/feed/latest",
        "added  technode         rss     https://technode.com/feed/",
        f"2 added, 0 skipped (duplicate URLs): {config.resolve()}",
    ]


def test_duplicate_urls_are_skipped_and_reported(newswatch, config, opml_file):
    feeds = opml_file(
        opml(
            feed("Ars", "HTTPS://FEEDS.ARSTECHNICA.COM:443/arstechnica/index"),  # configured already
            feed("TechNode", "https://technode.com/feed/"),
            feed("TechNode again", "https://technode.com/feed/#latest"),  # the same feed, twice in the file
        )
    )

    result = newswatch("--config", config, "sources", "import", feeds)

    assert result.returncode == 0, result.stderr
    assert [s["url"] for s in sources(config)] == [
        "https://feeds.arstechnica.com/arstechnica/index",
        "https://technode.com/feed/",
    ]
    lines = result.stdout.splitlines()
    assert (
        "skipped  HTTPS://FEEDS.ARSTECHNICA.COM:443/arstechnica/index: already configured as ars-technica"
        in lines
    )
    assert f"skipped  https://technode.com/feed/#latest: listed more than once in {feeds}" in lines
    assert lines[-1].startswith("1 added, 2 skipped (duplicate URLs)")


def test_names_are_derived_from_titles_or_hosts_and_made_unique(newswatch, config, opml_file):
    feeds = opml_file(
        opml(
            feed("Ars Technica", "https://arstechnica.com/ai/feed/"),  # "ars-technica" is taken
            feed("Ars Technica", "https://arstechnica.com/gadgets/feed/"),
            feed("Café Tech &amp; Co.", "https://cafe.example/feed"),
            feed("少数派", "https://www.sspai.com/feed"),  # no ASCII spelling: named after the host
            '<outline type="rss" xmlUrl="https://news.example.org/rss"/>',  # no title at all
        )
    )

    result = newswatch("--config", config, "sources", "import", feeds)

    assert result.returncode == 0, result.stderr
    assert [s["name"] for s in sources(config)] == [
        "ars-technica",
        "ars-technica-2",
        "ars-technica-3",
        "cafe-tech-co",
        "sspai-com",
        "news-example-org",
    ]


def test_an_ithome_url_imports_as_kind_ithome(newswatch, config, opml_file):
    feeds = opml_file(opml(feed("IT之家", "https://www.ithome.com/rss/"), feed("N", "https://n.example/rss")))

    result = newswatch("--config", config, "sources", "import", feeds, "--interval", "2m")

    assert result.returncode == 0, result.stderr
    assert [(s["name"], s["kind"], s["interval"]) for s in sources(config)[1:]] == [
        ("ithome-com", "ithome", "2m"),
        ("n", "rss", "2m"),
    ]


def test_nested_categories_are_flattened_and_said_so(newswatch, config, opml_file):
    feeds = opml_file(
        opml(
            '<outline text="Tech"><outline text="China">'
            + feed("Pandaily", "https://pandaily.com/feed/")
            + "</outline></outline>"
        )
    )

    result = newswatch("--config", config, "sources", "import", feeds)

    assert result.returncode == 0, result.stderr
    assert [s["name"] for s in sources(config)] == ["ars-technica", "pandaily"]
    assert "OPML categories flattened" in result.stdout.splitlines()[-1]


def test_a_dry_run_shows_the_change_and_makes_none(newswatch, config, opml_file):
    feeds = opml_file(opml(feed("TechNode", "https://technode.com/feed/")))
    before = config.stat()

    result = newswatch("--config", config, "sources", "import", feeds, "--dry-run")

    assert result.returncode == 0, result.stderr
    assert config.read_text(encoding="utf-8") == CONFIG
    assert config.stat().st_mtime_ns == before.st_mtime_ns
    assert result.stdout.splitlines()[0] == "would add  technode         rss     https://technode.com/feed/"
    assert f"1 to add, 0 skipped (duplicate URLs); dry run: {config.resolve()} is unchanged" in result.stdout
    assert result.stdout.endswith(
        '[[sources]]\nname = "technode"\nkind = "rss"\nurl = "https://technode.com/feed/"\ninterval = "15m"\n'
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("this is not XML at all", "not XML"),
        (  # an external entity is never fetched: the file is refused
            '<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
            '<opml version="2.0"><body><outline text="&x;" xmlUrl="https://a.example/"/></body></opml>',
            "not XML (reference to external entity",
        ),
        ("<html><body><a href='https://a.example/feed'>feed</a></body></html>", "not OPML"),
        (opml('<outline text="Folder only"/>'), "no feeds in it"),
        (
            opml(feed("Evil", "javascript:alert(1)")),
            "outline 'Evil': 'javascript:alert(1)' is not an http(s)",
        ),
        (
            opml(feed("Local", "file:///etc/passwd")),
            "outline 'Local': 'file:///etc/passwd' is not an http(s)",
        ),
        (opml(feed("Relative", "/feed.xml")), "'/feed.xml' is not an http(s) URL"),
    ],
)
def test_a_bad_opml_file_is_one_line_exit_2_and_the_config_untouched(
    newswatch, config, opml_file, content, problem
):
    feeds = opml_file(content)

    result = newswatch("--config", config, "sources", "import", feeds)

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"error: {feeds}: ")
    assert problem in result.stderr
    assert config.read_text(encoding="utf-8") == CONFIG


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["missing.opml"], "missing.opml: cannot read: No such file or directory"),
        (["feeds.opml", "--interval", "soon"], "--interval: must be a duration"),
    ],
)
def test_an_unreadable_file_or_a_bad_option_is_one_line_exit_2(newswatch, config, opml_file, args, problem):
    opml_file(opml(feed("Good", "https://good.example/feed")))

    result = newswatch("--config", config, "sources", "import", *args, cwd=config.parent)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and problem in result.stderr
    assert config.read_text(encoding="utf-8") == CONFIG


def test_the_file_is_replaced_atomically_keeping_its_mode_and_its_symlink(newswatch, config, opml_file):
    config.chmod(0o640)
    link = config.parent / "link.toml"
    link.symlink_to(config.name)
    feeds = opml_file(opml(feed("TechNode", "https://technode.com/feed/")))

    result = newswatch("--config", link, "sources", "import", feeds)

    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == config.name
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert [s["name"] for s in sources(config)] == ["ars-technica", "technode"]
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.toml", "feeds.opml", "link.toml"]


def test_new_tables_go_after_the_last_source_when_other_tables_follow(tmp_path):
    path = tmp_path / "config.toml"
    text = (
        '# top\n[storage]\nurl = "sqlite:///x.db"\n\n[[sources]]\nname = "a"  # first\nkind = "rss"\n'
        'url = "https://a.example/feed"\n\n[crawl]  # politeness\ntimeout = "5s"\n'
    )
    new = configedit.NewSource("b", "rss", "https://b.example/feed", "15m")

    result = configedit.appended(path, text, [new])

    assert result == (
        '# top\n[storage]\nurl = "sqlite:///x.db"\n\n[[sources]]\nname = "a"  # first\nkind = "rss"\n'
        'url = "https://a.example/feed"\n\n[[sources]]\nname = "b"\nkind = "rss"\n'
        'url = "https://b.example/feed"\ninterval = "15m"\n\n[crawl]  # politeness\ntimeout = "5s"\n'
    )
    assert [s["name"] for s in tomllib.loads(result)["sources"]] == ["a", "b"]


def test_a_config_without_sources_gets_its_first_tables(tmp_path):
    text = '[storage]\nurl = "sqlite:///x.db"\n'
    new = configedit.NewSource("b", "rss", "https://b.example/feed", "15m", enabled=False)

    result = configedit.appended(tmp_path / "config.toml", text, [new])

    assert result.startswith(text)
    assert tomllib.loads(result)["sources"] == [
        {"name": "b", "kind": "rss", "url": "https://b.example/feed", "interval": "15m", "enabled": False}
    ]


def test_sources_written_inline_are_refused_not_rewritten(tmp_path):
    text = 'sources = [{name = "a", kind = "rss", url = "https://a.example/feed"}]\n'

    with pytest.raises(cfg.ConfigError, match=r"sources: not written as \[\[sources\]\] tables"):
        configedit.appended(
            tmp_path / "config.toml", text, [configedit.NewSource("b", "rss", "https://b/", "1h")]
        )


# --- export ------------------------------------------------------------------------------------------


def test_export_writes_opml_2_with_one_escaped_outline_per_source(newswatch, write_config):
    hostile = "https://x.example/feed?a=1&b=<2>&c=\"3\"&d='4'"
    as_toml = hostile.replace('"', '\\"')
    path = write_config(
        f"""
        [[sources]]
        name = "ithome"
        kind = "ithome"
        url = "https://www.ithome.com/rss/"

        [[sources]]
        name = "odd"
        kind = "rss"
        url = "{as_toml}"

        [[sources]]
        name = "paused"
        kind = "rss"
        url = "https://paused.example/feed"
        enabled = false
        """
    )

    result = newswatch("--config", path, "sources", "export")

    assert result.returncode == 0, result.stderr
    root = ElementTree.fromstring(result.stdout.encode())
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == "newswatch sources (config.toml)"
    assert parsedate_to_datetime(root.findtext("head/dateCreated")).tzinfo is not None
    outlines = [o.attrib for o in root.find("body")]
    assert outlines == [
        {"type": "rss", "text": "ithome", "title": "ithome", "xmlUrl": "https://www.ithome.com/rss/"},
        {"type": "rss", "text": "odd", "title": "odd", "xmlUrl": hostile},
        {
            "type": "rss",
            "text": "paused",
            "title": "paused",
            "xmlUrl": "https://paused.example/feed",
            "category": "/newswatch/disabled",
        },
    ]
    assert listparser.parse(result.stdout.encode()).version == "opml2"


def test_an_export_imports_back_to_the_same_sources(newswatch, tmp_path):
    shipped = Path(__file__).resolve().parent.parent / "config.toml"
    original = tmp_path / "original.toml"
    paused = '[[sources]]\nname = "paused"\nkind = "rss"\nurl = "https://p.example/?a=1&b=2"\n'
    paused += "enabled = false\n"
    original.write_text(shipped.read_text(encoding="utf-8") + "\n" + paused, encoding="utf-8")
    exported = newswatch("--config", original, "sources", "export")
    (tmp_path / "feeds.opml").write_text(exported.stdout, encoding="utf-8")
    empty = tmp_path / "empty.toml"
    empty.write_text('[storage]\nurl = "sqlite:///store.db"\n', encoding="utf-8")

    result = newswatch("sources", "import", tmp_path / "feeds.opml", "--config", empty)

    assert exported.returncode == 0 and result.returncode == 0, exported.stderr + result.stderr
    before, after = cfg.load(original).sources, cfg.load(empty).sources
    assert {(s.name, s.url) for s in after} == {(s.name, s.url) for s in before}
    assert {(s.name, s.kind, s.enabled) for s in after} == {(s.name, s.kind, s.enabled) for s in before}
