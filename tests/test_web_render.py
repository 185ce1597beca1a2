"""The web side's pure rendering: the SVG timeline, the matrix and the Atom feed, from plain data
and tracker records."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import feedparser

from newswatch.models import Tags
from newswatch.storage.stories import Story
from newswatch.tracker import Event, build
from newswatch.web import chart
from newswatch.web.cache import RecordsCache
from newswatch.web.chart import Mark, Row, Span
from newswatch.web.feed import atom, story_urn
from newswatch.web.matrix import Cell, build_matrix, chart_row

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & "quotes"'


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # well-formed XML, or this raises


def test_a_record_restricted_then_lifted_is_one_closed_bar_with_a_marker_per_story() -> None:
    row = Row(
        "OpenAI API · CN",
        "?provider=openai&region=CN#history",
        "lifted",
        (Span(at(2024, 7, 9), at(2025, 1, 10), "restricted"),),
        (
            Mark(at(2024, 6, 25), "OpenAI to block API traffic", "https://a.example/1", "restricted"),
            Mark(at(2025, 1, 10), "OpenAI API back in China", "https://a.example/2", "lifted"),
        ),
    )
    svg = parse(chart.timeline([row], now=NOW))
    group = svg.find(f"{SVG}g")
    assert group.get("data-status") == "lifted" and group.get("data-label") == "OpenAI API · CN"
    (bar,) = group.iter(f"{SVG}rect")
    assert bar.get("class") == "bar restricted"
    marks = [c.get("class") for c in group.iter(f"{SVG}circle")]
    assert marks == ["mark restricted", "mark lifted"]
    first, lifted = (float(c.get("cx")) for c in group.iter(f"{SVG}circle"))
    start, width = float(bar.get("x")), float(bar.get("width"))
    assert first < start and abs(start + width - lifted) <= chart.MARK_RADIUS  # bar ends at the lifting
    assert next(t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "tick") == "Jul 2024"


def test_an_open_restriction_runs_to_now() -> None:
    row = Row("x", "#", "restricted", (Span(at(2024, 1, 1), None, "restricted"),), ())
    svg = parse(chart.timeline([row], now=NOW))
    bar = next(svg.iter(f"{SVG}rect"))
    now_line = next(line for line in svg.iter(f"{SVG}line") if line.get("class") == "now")
    assert abs(float(bar.get("x")) + float(bar.get("width")) - float(now_line.get("x1"))) < 0.2


def test_everything_is_escaped_and_nothing_is_inline_style_or_script() -> None:
    row = Row(
        HOSTILE,
        'javascript:"x"&y',
        "restricted",
        (),
        (Mark(at(2024, 1, 1), HOSTILE, "javascript:x", "lifted"),),
    )
    markup = str(chart.timeline([row], now=NOW))
    svg = parse(markup)  # well-formed: nothing broke out of an attribute or element
    assert "<script" not in markup and "style=" not in markup
    assert svg.find(f"{SVG}g").get("data-label") == HOSTILE
    assert {a.get("href") for a in svg.iter(f"{SVG}a")} == {"#"}  # neither link is http(s) or relative
    assert HOSTILE in "".join(svg.itertext())


def test_only_http_and_relative_links_are_kept() -> None:
    kept = [
        "https://a.example/x?y=1",
        "http://a.example/",
        "?provider=openai&region=CN#history",
        "./#history",
    ]
    assert [chart.safe_href(u) for u in kept] == kept
    for bad in (
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "data:text/html,x",
        "//evil.example/",
        "java\tscript:x",
    ):
        assert chart.safe_href(bad) == "#"


def test_markers_that_would_cover_each_other_are_drawn_once() -> None:
    marks = tuple(Mark(NOW - timedelta(minutes=i), f"report {i}", "#", "restricted") for i in range(500))
    row = Row("busy", "#", "restricted", (Span(at(2023, 1, 1), None, "restricted"),), marks)
    svg = parse(chart.timeline([row], now=NOW))
    (circle,) = svg.iter(f"{SVG}circle")
    assert circle.find(f"{SVG}title").text.endswith("(and 499 more)")


def test_no_rows_is_a_sentence_not_an_empty_chart() -> None:
    assert "No restrictions" in chart.timeline([], now=NOW)


def test_ticks_are_round_dates_at_a_readable_density() -> None:
    for days, first in ((3, "27 Feb"), (400, "Mar 2024"), (2000, "2020")):
        found = chart.ticks(NOW - timedelta(days=days), NOW)
        assert 2 <= len(found) <= 8 and found[0][1] == first
        assert all(a < b for (a, _), (b, _) in pairwise(found))


def story(number: int, **fields) -> Story:
    values = {
        "id": f"s-{number:012d}",
        "title": f"Story {number}",
        "url": f"https://www.ithome.com/0/{number}.htm",
        "source": "ithome",
        "summary": "Summary.",
        "lang": "zh",
        "published": NOW - timedelta(hours=number),
        "created": NOW - timedelta(hours=number) + timedelta(minutes=3),
        "relevant": True,
        "score": 1.0,
        "tags": Tags(
            providers=("microsoft",), services=("azure openai",), regions=("CN",), actions=("block",)
        ),
        "watched": (),
        "outlets": (
            {"source": "ithome", "url": f"https://www.ithome.com/0/{number}.htm", "title": "t"},
            {"source": "cnbeta", "url": f"https://www.cnbeta.com.tw/{number}.htm", "title": "t"},
        ),
        "effective": date(2024, 10, 21),
    }
    return Story(**(values | fields))


def test_the_atom_feed_parses_with_entries_newest_first_tags_and_every_outlet() -> None:
    stories = [story(1, title=HOSTILE), story(2)]
    feed = feedparser.parse(atom(stories, "http://h/feed.xml", "http://h/"))
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title.startswith("newswatch") and feed.feed.link == "http://h/"
    assert [e.id for e in feed.entries] == [story_urn("s-000000000001"), story_urn("s-000000000002")]
    first = feed.entries[0]
    assert first.title == HOSTILE  # escaped in the XML, intact for the reader
    assert first.link == "https://www.ithome.com/0/1.htm"
    assert [link.href for link in first.links] == [first.link]  # one alternate link, as Atom wants
    content = first.content[0].value
    assert 'href="https://www.cnbeta.com.tw/1.htm"' in content and ">cnbeta</a>" in content
    assert {t.term for t in first.tags} == {"microsoft", "azure openai", "CN", "block"}
    assert first.published_parsed[:4] == (NOW - timedelta(hours=1)).timetuple()[:4]


def test_an_empty_feed_is_still_a_valid_feed() -> None:
    feed = feedparser.parse(atom([], "http://h/feed.xml", "http://h/", now=NOW))
    assert not feed.bozo and feed.entries == []


def event(subject: str, region: str, action: str, day: date, provider: str | None = None) -> Event:
    return Event(
        subject=subject,
        providers=(provider or subject,),
        regions=(region,),
        audience=None,
        action=action,
        effective=day,
        reported=datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=2),
        title=f"{subject} {action} in {region}",
        url=f"https://news.example/{subject}/{region}/{action}",
        story_id=f"s-{subject}-{region}-{action}",
    )


def test_the_matrix_shows_each_provider_and_region_at_its_most_severe_and_links_its_history() -> None:
    records = build(
        [
            event("openai api", "CN", "restrict", date(2024, 7, 9), provider="openai"),
            event("chatgpt", "CN", "restrict", date(2024, 8, 1), provider="openai"),
            event("chatgpt", "CN", "lift", date(2025, 1, 1), provider="openai"),
            event("chatgpt", "IT", "restrict", date(2023, 3, 31), provider="openai"),
            event("chatgpt", "IT", "lift", date(2023, 4, 28), provider="openai"),
            event("deepseek", "IT", "restrict", date(2025, 1, 30)),
        ]
    )
    grid = build_matrix(records)
    assert grid.providers == ("openai", "deepseek") and set(grid.regions) == {"CN", "IT"}
    assert grid.cell("openai", "CN") == Cell("restricted", 2, "?provider=openai&region=CN#history")
    assert grid.cell("openai", "IT").status == "lifted"
    assert grid.cell("deepseek", "CN") is None


def test_a_chart_row_has_a_bar_per_restricted_stretch_and_a_marker_per_event() -> None:
    (record,) = build(
        [
            event("chatgpt", "IT", "restrict", date(2023, 3, 31), provider="openai"),
            event("chatgpt", "IT", "lift", date(2023, 4, 28), provider="openai"),
        ]
    )
    row = chart_row(record, name=str.upper)
    assert row.label == "CHATGPT · IT" and row.status == "lifted"
    assert row.spans == (Span(at(2023, 3, 31), at(2023, 4, 28), "restricted"),)
    assert [(m.kind, m.when) for m in row.marks] == [
        ("restricted", at(2023, 3, 29)),
        ("lifted", at(2023, 4, 26)),
    ]
    assert row.href == "?provider=openai&region=IT#history"


def test_cached_values_last_while_the_records_are_the_same_objects() -> None:
    cache, calls = RecordsCache(), []
    first = build([event("deepseek", "IT", "restrict", date(2025, 1, 30))])

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get(first, "k", compute) == 1
    assert cache.get(list(first), "k", compute) == 1  # a new list of the same records
    again = build([event("deepseek", "IT", "restrict", date(2025, 1, 30))])  # equal, not the same
    assert cache.get(again, "k", compute) == 2
