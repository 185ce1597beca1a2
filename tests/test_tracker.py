"""The restriction tracker: events in, the current status of every (subject, region, audience) out.

Derivation is pure and is specified here event by event; the shipped history is checked entry by
entry; stories are read from a real store (SQLite, and PostgreSQL when configured) in one query.
"""

from __future__ import annotations

import time
import tomllib
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy import event as sqla_event

from newswatch.config import Config, ConfigError, TrackerConfig
from newswatch.detect.vocabulary import build as build_vocabulary
from newswatch.models import AUDIENCES
from newswatch.storage import connect
from newswatch.storage import schema as tables
from newswatch.tracker import (
    Event,
    UnknownName,
    build,
    config_events,
    current,
    label,
    load_history,
    parse_entries,
    resolve,
    select,
    story_events,
)
from newswatch.tracker.entries import ENTRY_KEYS

VOCABULARY = build_vocabulary()


def ev(
    subject: str,
    regions: str,
    action: str,
    on: str,
    *,
    audience: str | None = None,
    providers: tuple[str, ...] | None = None,
    origin: str = "story",
    story_id: str | None = None,
    parent_id: str | None = None,
    reported: str | None = None,
    effective: bool = True,
) -> Event:
    """An event; ``on`` is its effective date (or only its report date with ``effective=False``)."""
    day = date.fromisoformat(on)
    return Event(
        subject=subject,
        providers=providers or VOCABULARY.service_providers.get(subject) or (subject,),
        regions=tuple(regions.split(",")),
        audience=audience,
        action=action,
        effective=day if effective else None,
        reported=datetime.combine(
            date.fromisoformat(reported) if reported else day, datetime.min.time(), UTC
        ),
        title=f"{subject} {action} {regions} {on}",
        url=f"https://news.example/{subject.replace(' ', '-')}/{on}",
        story_id=story_id if origin == "story" else None,
        origin=origin,
        parent_id=parent_id,
    )


def status(records, subject: str, region: str, audience: str | None = None) -> tuple[str, date]:
    [record] = [r for r in records if (r.subject, r.region, r.audience) == (subject, region, audience)]
    return record.status, record.since


# ------------------------------------------------------------------------------------- derivation


def test_a_lift_closes_an_open_restriction_and_the_record_keeps_its_history() -> None:
    records = build(
        [
            ev("chatgpt", "IT", "lift", "2023-04-28", origin="history"),
            ev("chatgpt", "IT", "restrict", "2023-03-31", origin="history"),
        ]
    )
    [record] = records
    assert (record.status, record.since) == ("lifted", date(2023, 4, 28))
    assert [(c.status, c.on) for c in record.history] == [
        ("restricted", date(2023, 3, 31)),
        ("lifted", date(2023, 4, 28)),
    ]
    assert record.as_dict()["history"][1]["since"] == "2023-04-28"


def test_a_new_region_or_audience_adds_a_record() -> None:
    records = build(
        [
            ev("deepseek", "KR", "restrict", "2025-02-05", audience="government-devices"),
            ev("deepseek", "KR", "restrict", "2025-03-20", audience="consumers"),
            ev("deepseek", "TW", "restrict", "2025-03-21", audience="government-devices"),
        ]
    )
    assert {(r.region, r.audience) for r in records} == {
        ("KR", "government-devices"),
        ("KR", "consumers"),
        ("TW", "government-devices"),
    }


def test_a_provider_lift_closes_its_services_and_a_service_lift_restores_part_of_a_provider() -> None:
    records = build(
        [
            ev("openai api", "CN", "restrict", "2024-07-09", audience="developers"),
            ev("openai", "HK", "restrict", "2024-07-09"),
            ev("openai", "CN", "lift", "2025-05-01"),  # "OpenAI is back in China"
            ev("chatgpt", "HK", "lift", "2025-05-02"),  # one OpenAI service back in Hong Kong
        ]
    )
    assert status(records, "openai api", "CN", "developers") == ("lifted", date(2025, 5, 1))
    assert status(records, "openai", "HK") == ("partial", date(2025, 5, 2))


def test_a_lift_for_everyone_leaves_government_device_bans_and_ownership_rules_alone() -> None:
    records = build(
        [
            ev("deepseek", "KR", "restrict", "2025-02-05", audience="government-devices"),
            ev("deepseek", "KR", "restrict", "2025-02-15", audience="consumers"),
            ev("anthropic", "CN", "restrict", "2025-09-05", audience="ownership"),
            ev("deepseek", "KR", "lift", "2025-04-28"),
            ev("anthropic", "CN", "lift", "2025-12-01"),
        ]
    )
    assert status(records, "deepseek", "KR", "consumers") == ("lifted", date(2025, 4, 28))
    assert status(records, "deepseek", "KR", "government-devices") == ("restricted", date(2025, 2, 5))
    assert status(records, "anthropic", "CN", "ownership") == ("restricted", date(2025, 9, 5))


def test_a_lift_for_a_broader_audience_closes_a_narrower_one_and_a_narrower_lift_restores_part() -> None:
    records = build(
        [
            ev("azure openai", "CN", "restrict", "2024-10-21", audience="individual-developers"),
            ev("gemini", "IN", "restrict", "2024-01-01"),
            ev("azure openai", "CN", "lift", "2025-06-01", audience="developers"),
            ev("gemini", "IN", "lift", "2024-03-01", audience="enterprises"),
        ]
    )
    assert status(records, "azure openai", "CN", "individual-developers") == ("lifted", date(2025, 6, 1))
    assert status(records, "gemini", "IN") == ("partial", date(2024, 3, 1))
    assert len(records) == 2  # a lift that covers a record adds none of its own


def test_partial_restrictions_and_restorations() -> None:
    records = build(
        [
            ev("meta ai", "EU", "restrict", "2024-06-14", origin="history"),
            ev("meta ai", "EU", "partial", "2025-03-20", origin="history"),  # chat only, no images
            ev("llama", "EU", "partial", "2024-07-18", origin="history"),  # multimodal models withheld
        ]
    )
    assert status(records, "meta ai", "EU") == ("partial", date(2025, 3, 20))
    assert status(records, "llama", "EU") == ("partial", date(2024, 7, 18))


def test_events_apply_in_the_order_they_take_effect_not_the_order_they_were_reported() -> None:
    notice = ev("openai api", "CN", "restrict", "2024-07-09", reported="2024-06-25", origin="history")
    early_lift = ev("openai api", "CN", "lift", "2024-07-01", origin="history")  # before it took effect
    records = build([notice, early_lift])
    assert status(records, "openai api", "CN") == ("restricted", date(2024, 7, 9))


def test_a_restriction_after_a_lift_reopens_the_record() -> None:
    records = build(
        [
            ev("grok", "MY", "restrict", "2026-01-11", origin="history"),
            ev("grok", "MY", "lift", "2026-01-23", origin="history"),
            ev("grok", "MY", "restrict", "2026-06-01"),
        ]
    )
    [record] = records
    assert (record.status, record.since) == ("restricted", date(2026, 6, 1))
    assert [c.status for c in record.history] == ["restricted", "lifted", "restricted"]
    assert record.current == (record.events[-1],)


def test_a_lift_with_nothing_to_close_is_a_lifted_record_of_its_own() -> None:
    [record] = build([ev("apple intelligence", "CN", "lift", "2026-03-01")])
    assert (record.status, record.since) == ("lifted", date(2026, 3, 1))


def test_stories_repeating_a_history_entry_join_its_record_and_can_supply_the_effective_date() -> None:
    history = ev(
        "openai api",
        "CN,HK",
        "restrict",
        "2024-07-09",
        audience="developers",
        origin="history",
        reported="2024-06-25",
    )
    notice = ev("openai", "CN", "restrict", "2024-06-25", story_id="s-1", effective=False)  # no service named
    effective = ev("openai api", "HK", "restrict", "2024-07-09", story_id="s-2", audience=None)
    records = build([history, notice, effective])
    assert [(r.region, r.subject, r.audience) for r in records] == [
        ("CN", "openai api", "developers"),
        ("HK", "openai api", "developers"),
    ]
    assert [e.story_id for e in records[0].events] == ["s-1", None]  # oldest first: the notice
    assert [e.story_id for e in records[1].events] == [None, "s-2"]

    dated = ev("openai api", "CN", "restrict", "2024-07-09", story_id="s-3", reported="2024-06-26")
    [record] = build([notice, dated])  # the next day's report gives the date the first one lacked
    assert (record.status, record.since, record.effective) == (
        "restricted",
        date(2024, 7, 9),
        date(2024, 7, 9),
    )


def test_a_story_far_from_the_known_event_or_about_another_service_is_a_new_record() -> None:
    history = ev("openai api", "CN", "restrict", "2024-07-09", origin="history")
    records = build(
        [
            history,
            ev("chatgpt", "CN", "restrict", "2024-07-10", story_id="s-1"),  # sign-ups, not the API
            ev("openai api", "CN", "restrict", "2024-09-01", audience="enterprises", story_id="s-2"),
        ]
    )
    assert {(r.subject, r.audience) for r in records} == {
        ("openai api", None),
        ("chatgpt", None),
        ("openai api", "enterprises"),
    }


def test_curated_entries_are_never_taken_for_repeats_of_each_other() -> None:
    records = build(
        [
            ev("deepseek", "KR", "restrict", "2025-02-05", audience="government-devices", origin="history"),
            ev("deepseek", "KR", "restrict", "2025-02-07", origin="history"),
        ]
    )
    assert len(records) == 2


def test_a_story_naming_its_parent_updates_that_record() -> None:
    restriction = ev("deepseek", "IT", "restrict", "2025-01-30", story_id="s-1")
    update = ev("deepseek", "IT", "restrict", "2025-03-15", story_id="s-2", parent_id="s-1")  # "takes effect"
    lift = ev("deepseek app", "IT", "lift", "2025-09-01", story_id="s-3", parent_id="s-1", providers=("x",))
    [record] = build([restriction, update, lift])
    assert (record.status, record.since) == ("lifted", date(2025, 9, 1))
    assert [e.story_id for e in record.events] == ["s-1", "s-2", "s-3"]


def test_building_is_quick_with_ten_thousand_events() -> None:
    services = sorted(VOCABULARY.service_providers)
    regions = sorted(VOCABULARY.regions)
    start = date(2023, 1, 1)
    events = [
        ev(
            services[i % len(services)],
            regions[i % len(regions)],
            "lift" if i % 5 == 0 else "restrict",
            (start + timedelta(days=i % 900)).isoformat(),
            audience=(None, *AUDIENCES)[i % 7],
            story_id=f"s-{i}",
        )
        for i in range(10_000)
    ]
    started = time.process_time()  # CPU time: other processes on a shared machine do not count
    records = build(events)
    assert time.process_time() - started < 2.0
    assert sum(len(r.events) for r in records) >= 10_000


# ------------------------------------------------------------------------------------ the history


def history_entries() -> list[dict[str, Any]]:
    text = resources.files("newswatch.tracker").joinpath("history.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)["events"]


def test_the_shipped_history_has_at_least_thirty_sourced_events_since_2023_in_both_directions() -> None:
    entries = history_entries()
    events = load_history()
    assert len(entries) == len(events) >= 30
    for entry, event in zip(entries, events, strict=True):
        assert set(entry) <= set(ENTRY_KEYS)
        assert date(2023, 1, 1) <= event.on <= date.today(), entry
        assert event.reported.date() <= date.today(), entry
        assert event.url.startswith(("https://", "http://")), entry
        assert 10 <= len(event.title) <= 120 and not event.title.endswith("."), entry
        assert event.origin == "history" and event.story_id is None
    actions = {e.action for e in events}
    assert actions == {"restrict", "lift", "partial"}
    assert {e.audience for e in events} >= {None, "government-devices", "ownership", "individual-developers"}


def test_the_shipped_history_names_only_what_the_vocabulary_knows() -> None:
    for event in load_history():
        assert event.subject in VOCABULARY.service_providers or event.subject in VOCABULARY.provider_is_ai
        assert set(event.regions) <= VOCABULARY.regions
        assert set(event.providers) <= set(VOCABULARY.provider_is_ai)


def test_the_shipped_history_answers_the_questions_subscribers_ask() -> None:
    records = build(load_history())
    assert status(records, "openai api", "CN", "developers") == ("restricted", date(2024, 7, 9))
    assert status(records, "azure openai", "CN", "individual-developers") == (
        "restricted",
        date(2024, 10, 21),
    )
    assert status(records, "chatgpt", "IT") == ("lifted", date(2023, 4, 28))
    assert status(records, "deepseek", "KR", "consumers") == ("lifted", date(2025, 4, 28))
    assert status(records, "deepseek", "KR", "government-devices")[0] == "restricted"
    assert status(records, "apple intelligence", "EU") == ("lifted", date(2025, 3, 31))
    assert status(records, "apple intelligence", "CN")[0] == "restricted"
    assert status(records, "anthropic", "CN", "ownership") == ("restricted", date(2025, 9, 5))
    us_devices = [r for r in records if (r.subject, r.region) == ("deepseek", "US")]
    assert len(us_devices) == 1 and len(us_devices[0].events) >= 4  # Navy, Pentagon, NASA, states


# ------------------------------------------------------------------------- entries and [[tracker]]


def entry(**overrides: Any) -> dict[str, Any]:
    base = {
        "service": "deepseek",
        "regions": ["DE"],
        "audience": "consumers",
        "action": "ban",
        "effective": date(2025, 6, 27),
        "title": "DeepSeek taken off German app stores",
        "url": "https://news.example/deepseek-de",
    }
    return {k: v for k, v in {**base, **overrides}.items() if v is not None}


def config_with(*entries: dict[str, Any], vocabulary: dict | None = None) -> Config:
    return Config(
        path=Path("config.toml"),
        storage_url="sqlite://",
        sources=(),
        vocabulary=vocabulary or {},
        tracker=TrackerConfig(events=entries),
    )


def test_config_events_use_the_history_shape() -> None:
    deepseek, openai = config_events(
        config_with(entry(), entry(provider="openai", service=None, regions=["CN"], audience=None))
    )
    assert (deepseek.subject, deepseek.regions, deepseek.audience, deepseek.action, deepseek.origin) == (
        "deepseek",
        ("DE",),
        "consumers",
        "restrict",
        "config",
    )
    assert deepseek.reported == datetime(2025, 6, 27, tzinfo=UTC)
    assert (openai.subject, openai.providers, openai.audience) == ("openai", ("openai",), None)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"regions": ["DE", "XX"]}, "tracker.events[1].regions: unknown region 'XX'"),
        ({"regions": []}, "tracker.events[1].regions: must be a non-empty list"),
        ({"service": "deepsek"}, "tracker.events[1].service: unknown service 'deepsek'"),
        ({"provider": "openai"}, "tracker.events[1].service: give exactly one of service or provider"),
        ({"audience": "everyone"}, "tracker.events[1].audience: unknown audience 'everyone'"),
        ({"action": "blocked"}, "tracker.events[1].action: unknown action 'blocked'"),
        ({"effective": "last week"}, "tracker.events[1].effective: must be a date like 2024-07-09"),
        ({"effective": date(1999, 1, 1)}, "tracker.events[1].effective: 1999-01-01 is not a plausible date"),
        ({"url": "ftp://x.example/a"}, "tracker.events[1].url: must be an absolute http(s) URL"),
        ({"title": None}, "tracker.events[1].title: is required"),
        ({"source": "x"}, "tracker.events[1].source: unknown key"),
    ],
)
def test_a_bad_config_event_is_one_line_naming_the_entry_and_key(bad: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        config_events(config_with(entry(), entry(**bad)))
    assert str(error.value).startswith(f"config.toml: {message}")
    assert "\n" not in str(error.value)


def test_config_events_may_name_what_the_config_vocabulary_adds() -> None:
    vocabulary = {
        "services": {"acme chat": {"providers": ["openai"]}},
        "regions": {"XK": {"aliases": ["Kosovo"]}},
    }
    [event] = config_events(config_with(entry(service="acme chat", regions=["XK"]), vocabulary=vocabulary))
    assert (event.subject, event.providers, event.regions) == ("acme chat", ("openai",), ("XK",))


def test_entries_must_be_an_array_of_tables() -> None:
    with pytest.raises(ValueError, match="must be a table"):
        parse_entries(["x"], VOCABULARY, "config")


# ----------------------------------------------------------------------------------- questions


def test_select_matches_providers_services_aliases_and_regions_in_any_case() -> None:
    records = build(load_history())
    deepseek = select(records, provider="deepseek")
    assert deepseek and {r.subject for r in deepseek} == {"deepseek"}
    assert select(records, provider="DeepSeek app") == select(records, provider="深度求索") == deepseek
    assert (
        {r.region for r in select(records, region="cn")}
        == {"CN"}
        == {r.region for r in select(records, region="中国")}
    )
    assert [r.region for r in select(records, provider="deepseek", region="KR")] == ["KR", "KR"]
    microsoft = select(records, provider="microsoft")  # its services: Azure OpenAI, Copilot
    assert {r.subject for r in microsoft} == {"azure openai", "copilot"}
    claude = select(records, provider="claude")  # Anthropic's ownership rule applies to Claude too
    assert {r.subject for r in claude} == {"anthropic"}


def test_a_service_question_includes_restrictions_of_its_provider_as_a_whole() -> None:
    records = build(
        [ev("openai", "CN", "restrict", "2024-07-09"), ev("sora", "GB", "restrict", "2024-12-09")]
    )
    assert {r.subject for r in select(records, provider="chatgpt")} == {"openai"}
    assert {r.subject for r in select(records, provider="sora")} == {"openai", "sora"}


def test_unknown_names_are_refused() -> None:
    with pytest.raises(UnknownName, match="unknown provider or service 'nosuchai'"):
        select([], provider="nosuchai")
    with pytest.raises(UnknownName, match="unknown region 'XX'"):
        select([], region="XX")


def test_one_word_questions_resolve_to_a_provider_or_a_region() -> None:
    assert resolve("deepseek").provider == "deepseek"
    assert resolve("CN").region == "CN" and resolve("it").region == "IT"
    assert resolve("South Korea").region == "KR"
    assert resolve("Azure OpenAI").provider == "azure openai"
    with pytest.raises(UnknownName):
        resolve("<b>")
    assert label("openai api") == "OpenAI API" and label("deepseek") == "DeepSeek"


# ---------------------------------------------------------------------------------- the store


def add_stories(engine: Engine, stories: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    rows = []
    for i, story in enumerate(stories):
        published = story.pop("published", now)
        rows.append(
            {
                "id": story.pop("id", f"s-{i:08d}"),
                "title": f"story {i}",
                "url": f"https://news.example/{i}",
                "source": "ithome",
                "summary": "",
                "lang": "en",
                "published": published,
                "created": published,
                "updated": published,
                "relevant": True,
                "kept": True,
                "score": 1.0,
                "watched": [],
                "outlets": [],
                "article_count": 1,
                "effective": None,
                "change": None,
                "parent_id": None,
                **story,
            }
        )
    with engine.begin() as conn:
        conn.execute(tables.stories.insert(), rows)


@pytest.fixture
def engine(store_url: str):
    engine = connect(store_url)
    yield engine
    engine.dispose()


def tags(providers=(), services=(), regions=(), actions=(), audience=()) -> dict[str, list[str]]:
    return {
        "providers": list(providers),
        "services": list(services),
        "regions": list(regions),
        "actions": list(actions),
        "audience": list(audience),
    }


def test_story_events_come_from_kept_relevant_stories(engine: Engine) -> None:
    published = datetime(2025, 2, 17, 3, 0, tzinfo=UTC)
    add_stories(
        engine,
        [
            {
                "id": "s-lift",
                "tags": tags(["deepseek"], ["deepseek"], ["KR"], ["lift"], ["consumers"]),
                "published": published,
            },
            {  # ChatGPT and DeepSeek on government devices: two subjects, both audiences kept
                "id": "s-two",
                "tags": tags(["deepseek", "openai"], ["chatgpt"], ["IN"], ["ban"], ["government-devices"]),
                "effective": date(2025, 1, 29),
            },
            {
                "id": "s-parent",
                "tags": tags(["openai"], [], ["CN"], ["block"]),
                "change": "lifted",
                "parent_id": "s-x",
            },
            {"id": "s-watched", "tags": tags(["openai"], [], ["CN"], ["block"]), "relevant": False},
            {"id": "s-noregion", "tags": tags(["openai"], [], [], ["block"])},
            {"id": "s-old", "tags": {"providers": ["openai"], "regions": ["CN"], "actions": ["block"]}},
        ],
    )
    events = {(e.story_id, e.subject): e for e in story_events(engine)}
    assert set(events) == {
        ("s-lift", "deepseek"),
        ("s-two", "chatgpt"),
        ("s-two", "deepseek"),
        ("s-parent", "openai"),
        ("s-old", "openai"),
    }
    lift = events["s-lift", "deepseek"]
    assert (lift.action, lift.audience, lift.reported, lift.origin) == (
        "lift",
        "consumers",
        published,
        "story",
    )
    assert events["s-two", "chatgpt"].providers == ("openai",)
    assert events["s-two", "deepseek"].effective == date(2025, 1, 29)
    assert (events["s-parent", "openai"].action, events["s-parent", "openai"].parent_id) == ("lift", "s-x")
    assert events["s-old", "openai"].audience is None


def test_the_tracker_of_ten_thousand_stories_is_one_query_and_quick(engine: Engine) -> None:
    services = sorted(VOCABULARY.service_providers)
    regions = sorted(VOCABULARY.regions)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    add_stories(
        engine,
        [
            {
                "tags": tags(
                    VOCABULARY.service_providers[services[i % len(services)]],
                    [services[i % len(services)]],
                    [regions[i % len(regions)], regions[(i * 7) % len(regions)]],
                    ["lift" if i % 6 == 0 else "block"],
                    [AUDIENCES[i % len(AUDIENCES)]] if i % 3 else [],
                ),
                "published": start + timedelta(hours=3 * i),
            }
            for i in range(10_000)
        ],
    )
    statements: list[str] = []
    sqla_event.listen(
        engine,
        "before_cursor_execute",
        lambda *args: statements.append(args[2]) if args[2].startswith("SELECT") else None,
    )
    started = time.process_time()
    records = current(engine, config_with())
    first = time.process_time() - started
    assert len(statements) == 1 and first < 5.0, f"{len(statements)} queries, {first:.2f} s"
    assert sum(len(r.events) for r in records) > 10_000

    started = time.process_time()
    assert current(engine, config_with()) == records  # nothing changed: one query for what changed
    again = time.process_time() - started
    assert len(statements) == 2 and again < 0.25, f"{again:.3f} s"

    add_stories(engine, [{"id": "s-new", "tags": tags(["xai"], ["grok"], ["BR"], ["ban"])}])
    grok = select(current(engine, config_with()), provider="grok", region="BR")
    assert "s-new" in {e.story_id for r in grok for e in r.events}
