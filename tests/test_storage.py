"""The store, on SQLite and (with NEWSWATCH_TEST_DATABASE_URL) PostgreSQL: versioned schema, upgrades
that keep every row, one row per canonical URL, per-source poll state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, MetaData, Table, func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from newswatch.detect.stories import story_keys
from newswatch.models import Article, Detection
from newswatch.storage import articles, connect, schema, sources, stories, subscribers
from newswatch.storage.db import LATEST, MIGRATIONS, SchemaTooNew, current_version, migrate

BEIJING = timezone(timedelta(hours=8))
WHEN = datetime(2024, 10, 21, 1, 30, 12, tzinfo=UTC)


@pytest.fixture
def engines(store_url: str) -> Iterator[list[Engine]]:
    """Engines a test opens on its store; disposed afterwards so a PostgreSQL schema can be dropped."""
    opened: list[Engine] = []
    yield opened
    for engine in opened:
        engine.dispose()


def open_store(store_url: str, engines: list[Engine], upgrade: bool = True) -> Engine:
    engine = connect(store_url, upgrade=upgrade)
    engines.append(engine)
    return engine


def save(
    engine: Engine,
    url: str,
    title: str = "OpenAI blocks API access in China",
    body: str = "OpenAI will block API traffic from unsupported regions starting July 9.",
    published: datetime = WHEN,
    source: str = "neowin",
) -> articles.Saved | None:
    article = Article(
        source=source,
        url=url,
        title=title,
        body=body,
        summary=body[:40],
        lang="en",
        published=published,
        fetched=WHEN + timedelta(minutes=5),
    )
    keys = story_keys(f"{title}\n{body}".lower(), Detection(relevant=False, score=0.0))
    return articles.save(engine, article, Detection(relevant=False, score=0.1), keys)


def version_rows(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(schema.schema_version.c.version)).scalars())


def test_a_new_store_has_every_table_and_the_latest_version(store_url, engines):
    engine = open_store(store_url, engines)

    assert version_rows(engine) == [LATEST]
    with engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
    assert set(schema.metadata.tables) <= present


def test_opening_a_current_store_again_changes_nothing(store_url, engines):
    engine = open_store(store_url, engines)
    save(engine, "https://www.neowin.net/news/1/")

    assert migrate(engine) == LATEST
    assert version_rows(engine) == [LATEST]
    assert articles.count_by_source(engine) == {"neowin": 1}


def test_a_version_1_store_upgrades_without_losing_rows(store_url, engines):
    engine = open_store(store_url, engines, upgrade=False)
    with engine.begin() as conn:
        schema.schema_version.create(conn)
        conn.execute(schema.schema_version.insert().values(version=1))
        MIGRATIONS[1](conn)
    first = save(engine, "https://www.neowin.net/news/1/")
    save(
        engine,
        "https://www.ithome.com/0/892/248.htm",
        title="微软停止服务",
        body="IT之家 10 月 21 日消息，微软。",
        source="ithome",
    )
    sources.record_success(engine, "neowin", '"etag-1"', "Mon, 21 Oct 2024 01:30:12 GMT")
    with engine.connect() as conn:
        assert "subscribers" not in inspect(conn).get_table_names()

    assert migrate(engine) == 1

    assert version_rows(engine) == [LATEST]
    assert articles.count_by_source(engine) == {"neowin": 1, "ithome": 1}
    with engine.connect() as conn:
        assert set(schema.metadata.tables) <= set(inspect(conn).get_table_names())
        row = (
            conn.execute(select(schema.articles).where(schema.articles.c.id == first.article_id))
            .mappings()
            .one()
        )
    assert (row["title"], row["published"], row["story_id"]) == (
        "OpenAI blocks API access in China",
        WHEN,
        first.story_id,
    )
    assert sources.get(engine, "neowin").etag == '"etag-1"'


V3_COLUMNS = {
    "articles": {"link", "effective"},
    "stories": {"effective", "parent_id", "change"},
    "subscribers": {"lang"},
}


def test_a_version_2_store_gains_the_event_columns_and_keeps_its_rows(store_url, engines):
    """Stores made before stories were events (v2) have none of v3's columns: they are added, NULL
    for old rows, which read back as "no effective date, no parent, language not chosen"."""
    engine = open_store(store_url, engines, upgrade=False)
    with engine.begin() as conn:  # today's tables without v3's columns are v2's tables
        schema.metadata.create_all(conn)
        conn.execute(text("DROP INDEX ix_stories_parent_id"))
        conn.execute(text("DROP INDEX ix_stories_first"))  # v4's, over v3's columns
        for table, columns in V3_COLUMNS.items():
            for column in columns:
                conn.execute(text(f'ALTER TABLE {table} DROP COLUMN "{column}"'))
        conn.execute(schema.schema_version.insert().values(version=2))
        v2_stories = Table("stories", MetaData(), autoload_with=conn)
        conn.execute(
            v2_stories.insert().values(
                id="s-old",
                title="OpenAI blocks API access in China",
                url="https://www.neowin.net/news/1/",
                source="neowin",
                summary="",
                lang="en",
                published=WHEN,
                created=WHEN,
                updated=WHEN,
                relevant=True,
                kept=True,
                score=1.0,
                tags={"providers": ["openai"], "regions": ["CN"], "actions": ["block"]},
                watched=[],
                outlets=[{"source": "neowin", "url": "https://www.neowin.net/news/1/", "title": "t"}],
                article_count=1,
                queued=True,
            )
        )
    assert migrate(engine) == 2

    with engine.connect() as conn:
        for table, columns in V3_COLUMNS.items():
            assert columns <= {c["name"] for c in inspect(conn).get_columns(table)}
    story = stories.get(engine, "s-old")
    assert story is not None
    assert (story.effective, story.parent_id, story.change) == (None, None, None)
    assert story.tags.audience == () and story.tags.regions == ("CN",)
    sub, _ = subscribers.subscribe(engine, 42, "private")
    assert sub.lang is None


def test_a_version_3_store_gains_the_alert_lead_and_the_story_index_and_keeps_its_alerts(store_url, engines):
    """Alerts sent before v4 led with the story's first report: their lead reads back as NULL, which
    edits take as that report."""
    engine = open_store(store_url, engines, upgrade=False)
    with engine.begin() as conn:
        schema.metadata.create_all(conn)
        conn.execute(text('ALTER TABLE outbox DROP COLUMN "lead"'))
        conn.execute(text("DROP INDEX ix_stories_first"))
        conn.execute(schema.schema_version.insert().values(version=3))
    saved = save(engine, "https://www.neowin.net/news/1/")
    sub, _ = subscribers.subscribe(engine, 42, "private")
    with engine.begin() as conn:
        v3_outbox = Table("outbox", MetaData(), autoload_with=conn)
        conn.execute(
            v3_outbox.insert().values(
                subscriber_id=sub.id,
                story_id=saved.story_id,
                status="sent",
                attempts=0,
                next_attempt=WHEN,
                message_id=7,
                rendered_count=1,
            )
        )
    assert migrate(engine) == 3

    with engine.connect() as conn:
        assert "lead" in {c["name"] for c in inspect(conn).get_columns("outbox")}
        assert "ix_stories_first" in {i["name"] for i in inspect(conn).get_indexes("stories")}
        assert conn.execute(select(schema.outbox.c.lead, schema.outbox.c.message_id)).one() == (None, 7)


def test_an_upgrade_interrupted_before_migration_1_resumes_with_one_version_row(store_url, engines):
    engine = open_store(store_url, engines, upgrade=False)
    with engine.begin() as conn:
        schema.schema_version.create(conn)
        conn.execute(schema.schema_version.insert().values(version=0))

    migrate(engine)

    assert version_rows(engine) == [LATEST]


def test_a_store_newer_than_this_newswatch_is_refused(store_url, engines):
    engine = open_store(store_url, engines)
    with engine.begin() as conn:
        conn.execute(schema.schema_version.update().values(version=LATEST + 1))

    with pytest.raises(SchemaTooNew, match=f"schema version {LATEST + 1}"):
        migrate(engine)
    with engine.connect() as conn:
        assert current_version(conn) == LATEST + 1


def test_a_canonical_url_is_stored_once(store_url, engines):
    engine = open_store(store_url, engines)
    url = "https://www.scmp.com/tech/article/3283"

    assert save(engine, url) is not None
    assert save(engine, url, title="Same URL, edited headline") is None
    assert articles.count_by_source(engine) == {"neowin": 1}
    assert articles.known_urls(engine, [url, "https://www.scmp.com/other"]) == {url}


def test_the_database_itself_refuses_a_second_row_for_a_url(store_url, engines):
    engine = open_store(store_url, engines)
    row = {
        "url": "https://example.com/a",
        "source": "s",
        "title": "t",
        "lang": "en",
        "fetched": WHEN,
        "fingerprint": "0" * 32,
        "tags": {},
        "watched": [],
    }
    with engine.begin() as conn:
        conn.execute(schema.articles.insert().values(**row))

    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(schema.articles.insert().values(**row))


def test_known_urls_answers_for_many_urls_at_once(store_url, engines):
    engine = open_store(store_url, engines)
    stored = "https://www.neowin.net/news/700/"
    save(engine, stored)
    asked = [f"https://www.neowin.net/news/{i}/" for i in range(1200)]

    assert articles.known_urls(engine, asked) == {stored}
    assert articles.known_urls(engine, []) == set()


def test_the_same_text_under_another_url_joins_its_story(store_url, engines):
    engine = open_store(store_url, engines)

    first = save(engine, "https://www.neowin.net/news/1/")
    repost = save(engine, "https://technode.com/2024/10/21/repost/", source="technode")
    other = save(
        engine,
        "https://technode.com/2024/10/21/other/",
        title="Xiaomi ships a phone",
        body="Xiaomi said its new phone ships next week with a bigger battery.",
        source="technode",
    )

    assert (first.new_story, repost.new_story, other.new_story) == (True, False, True)
    assert repost.story_id == first.story_id != other.story_id


def test_times_are_stored_as_utc_and_naive_times_are_refused(store_url, engines):
    engine = open_store(store_url, engines)
    saved = save(
        engine,
        "https://www.ithome.com/0/892/249.htm",
        published=datetime(2024, 10, 21, 9, 30, 12, tzinfo=BEIJING),
    )
    with engine.connect() as conn:
        published = conn.execute(
            select(schema.articles.c.published).where(schema.articles.c.id == saved.article_id)
        ).scalar()

    assert published == WHEN and published.tzinfo == UTC
    with pytest.raises(Exception, match="naive datetime"):
        save(engine, "https://example.com/naive", published=datetime(2024, 10, 21, 9, 30))


def test_source_state_keeps_validators_through_304s_and_failures(store_url, engines):
    engine = open_store(store_url, engines)
    assert sources.get(engine, "neowin").status == "never polled"

    sources.record_success(engine, "neowin", '"v1"', "Mon, 21 Oct 2024 01:30:12 GMT")
    sources.record_success(engine, "neowin", None, None, keep_validators=True)  # a 304
    sources.record_failure(engine, "neowin", "HTTP 500 from https://www.neowin.net/news/rss/")
    sources.record_failure(engine, "neowin", "timed out after 20 s fetching https://www.neowin.net/news/rss/")
    failing = sources.get(engine, "neowin")

    assert (failing.etag, failing.last_modified) == ('"v1"', "Mon, 21 Oct 2024 01:30:12 GMT")
    assert (failing.failures, failing.status) == (2, "failing (2x)")
    assert failing.last_error.startswith("timed out")
    assert failing.last_success is not None and failing.last_poll >= failing.last_success

    sources.record_success(engine, "neowin", '"v2"', None)
    recovered = sources.all_states(engine)["neowin"]
    assert (recovered.failures, recovered.last_error, recovered.etag, recovered.status) == (
        0,
        None,
        '"v2"',
        "ok",
    )


def test_sqlite_stores_use_write_ahead_logging(tmp_path):
    engine = connect(f"sqlite:///{tmp_path / 'sub' / 'store.db'}")

    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
    assert (tmp_path / "sub" / "store.db").exists()


def test_counts_by_source_cover_every_stored_article(store_url, engines):
    engine = open_store(store_url, engines)
    for i in range(3):
        save(engine, f"https://www.neowin.net/news/{i}/", title=f"Story {i}", body=f"Body number {i} " * 5)
    save(engine, "https://www.ithome.com/0/892/250.htm", title="其他", body="正文内容", source="ithome")

    assert articles.count_by_source(engine) == {"neowin": 3, "ithome": 1}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.articles)).scalar() == 4
