"""The store, on SQLite and (with NEWSWATCH_TEST_DATABASE_URL) PostgreSQL: versioned schema, upgrades
that keep every row, one row per canonical URL, per-source poll state."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, Table, event, func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from newswatch.detect.stories import StoryKeys, story_keys
from newswatch.models import Article, Detection, Tags
from newswatch.storage import articles, connect, outbox, schema, sources, stories, subscribers
from newswatch.storage.db import LATEST, MIGRATIONS, SchemaTooNew, current_version, migrate
from newswatch.storage.inlists import chunks, padded

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


V5_COLUMNS = {"subscribers": {"tz", "quiet", "digest"}, "outbox": {"held", "part_id"}}


def test_a_version_4_store_gains_schedules_and_digests_and_keeps_its_subscribers(store_url, engines):
    """Stores made before quiet hours (v4) keep their subscribers, choices and outbox: NULL reads
    back as "default timezone, no quiet hours, no digest" and "an alert of its own"."""
    engine = open_store(store_url, engines, upgrade=False)
    with engine.begin() as conn:  # today's tables without v5's are v4's
        schema.metadata.create_all(conn)
        conn.execute(text("DROP TABLE digest_parts"))
        conn.execute(text("DROP INDEX ix_outbox_part_id"))
        for table, columns in V5_COLUMNS.items():
            for column in columns:
                conn.execute(text(f'ALTER TABLE {table} DROP COLUMN "{column}"'))
        conn.execute(schema.schema_version.insert().values(version=4))
    story_id = save(engine, "https://www.neowin.net/news/1/").story_id
    with engine.begin() as conn:
        v4_subscribers = Table("subscribers", MetaData(), autoload_with=conn)
        v4_outbox = Table("outbox", MetaData(), autoload_with=conn)
        sub_id = conn.execute(
            v4_subscribers.insert().values(
                chat_id=42, kind="private", title="Ann", active=True, regions=["CN"], providers=[],
                keywords=["openai"], lang="zh", created=WHEN, updated=WHEN,
            )
        ).inserted_primary_key[0]  # fmt: skip
        conn.execute(
            v4_outbox.insert().values(
                subscriber_id=sub_id, story_id=story_id, status="pending", attempts=0, next_attempt=WHEN,
                rendered_count=0,
            )
        )  # fmt: skip

    assert migrate(engine) == 4

    with engine.connect() as conn:
        for table, columns in V5_COLUMNS.items():
            assert columns <= {c["name"] for c in inspect(conn).get_columns(table)}
        assert "digest_parts" in inspect(conn).get_table_names()
    sub = subscribers.get(engine, 42)
    assert (sub.regions, sub.keywords, sub.lang) == (("CN",), ("openai",), "zh")
    assert (sub.tz, sub.quiet, sub.digest) == (None, None, None)
    (row,) = outbox.due(engine, WHEN)  # the queued alert still goes out, as an alert
    assert row.chat_id == 42 and outbox.held_due(engine, WHEN) == []
    subscribers.set_schedule(engine, 42, quiet="23:00-08:00", tz="Asia/Shanghai")
    assert subscribers.get(engine, 42).quiet == "23:00-08:00"


def test_a_version_5_store_gains_the_alert_lead_and_the_story_index_and_keeps_its_alerts(store_url, engines):
    """Alerts sent before v6 led with the story's first report: their lead reads back as NULL, which
    edits take as that report."""
    engine = open_store(store_url, engines, upgrade=False)
    with engine.begin() as conn:
        schema.metadata.create_all(conn)
        conn.execute(text('ALTER TABLE outbox DROP COLUMN "lead"'))
        conn.execute(text("DROP INDEX ix_stories_first"))
        conn.execute(schema.schema_version.insert().values(version=5))
    saved = save(engine, "https://www.neowin.net/news/1/")
    sub, _ = subscribers.subscribe(engine, 42, "private")
    with engine.begin() as conn:
        v5_outbox = Table("outbox", MetaData(), autoload_with=conn)
        conn.execute(
            v5_outbox.insert().values(
                subscriber_id=sub.id,
                story_id=saved.story_id,
                status="sent",
                attempts=0,
                next_attempt=WHEN,
                message_id=7,
                rendered_count=1,
            )
        )
    assert migrate(engine) == 5

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


def test_roles_opening_a_new_store_at_once_all_find_it_current(store_url, engines):
    """A scale-out's scheduler and crawlers start together on an empty store: none fails on the
    tables another is creating, and the store has its one version row."""
    starters = 4
    all_ready = threading.Barrier(starters)

    def open_with_the_others(_: int) -> Engine:
        all_ready.wait()
        return open_store(store_url, engines)

    with ThreadPoolExecutor(starters) as pool:
        opened = list(pool.map(open_with_the_others, range(starters)))

    for engine in opened:
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


class Statements:
    """The distinct SQL texts an engine sends: each one a driver prepares and keeps per connection."""

    def __init__(self, engine: Engine):
        self.texts: set[str] = set()
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, *_args) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's write lock, see db._sqlite_begin
            self.texts.add(statement)


def new_article(
    url: str,
    title: str = "OpenAI blocks API access in China",
    body: str = "OpenAI will block API traffic from unsupported regions starting July 9.",
    published: datetime = WHEN,
) -> articles.NewArticle:
    article = Article(source="neowin", url=url, title=title, body=body, lang="en", published=published)
    detection = Detection(relevant=False, score=0.1)
    return articles.NewArticle(article, detection, story_keys(f"{title}\n{body}".lower(), detection))


def story_row(engine: Engine, story_id: str) -> dict:
    with engine.connect() as conn:
        return dict(
            conn.execute(select(schema.stories).where(schema.stories.c.id == story_id)).mappings().one()
        )


def test_a_batch_is_stored_in_order_and_its_articles_see_each_other(store_url, engines):
    """One transaction for the batch, yet each article is placed as if those before it were stored:
    a repost later in the batch joins the story an earlier one started; a URL twice is stored once."""
    engine = open_store(store_url, engines)
    other = dict(title="Xiaomi ships a phone", body="Xiaomi said its new phone ships next week, bigger.")

    first, repost, again, unrelated = articles.save_many(
        engine,
        [
            new_article("https://www.neowin.net/news/1/"),
            new_article("https://technode.com/repost/", published=WHEN - timedelta(hours=1)),
            new_article("https://www.neowin.net/news/1/", title="The same URL again"),
            new_article("https://technode.com/other/", **other),
        ],
    )

    assert again is None
    assert (first.new_story, repost.new_story, unrelated.new_story) == (True, False, True)
    assert repost.story_id == first.story_id != unrelated.story_id
    story = story_row(engine, first.story_id)
    assert story["article_count"] == 2 and story["published"] == WHEN - timedelta(hours=1)
    assert [o["url"] for o in story["outlets"]] == [
        "https://www.neowin.net/news/1/",
        "https://technode.com/repost/",
    ]
    with engine.connect() as conn:
        keys = conn.execute(
            select(schema.story_keys.c.article_id, func.count()).group_by(schema.story_keys.c.article_id)
        ).all()
    assert {article_id for article_id, _ in keys} == {
        first.article_id,
        repost.article_id,
        unrelated.article_id,
    }


def test_batches_of_every_size_are_stored_with_a_few_statements(store_url, engines):
    """A poll stores as many articles as it found: the statements must not differ with the count,
    or each count is another prepared statement kept by every connection."""
    engine = open_store(store_url, engines)
    sent = Statements(engine)

    for size in range(1, 41):
        batch = [
            new_article(f"https://example.com/{size}/{n}", title=f"Story {size}-{n}", body=f"Body {n} " * 12)
            for n in range(size)
        ]
        saved = articles.save_many(engine, batch)
        assert len({s.article_id for s in saved}) == size

    # articles (and on PostgreSQL one for a single row, with RETURNING), stories, story keys
    assert len([t for t in sent.texts if t.startswith("INSERT")]) <= 4
    assert len(sent.texts) <= 40  # lookups: a few kinds, each in lists of 1, 2, 4 ... 64 values


def test_a_batch_joining_a_stored_story_writes_it_once_with_every_article(store_url, engines):
    engine = open_store(store_url, engines)
    stored = save(engine, "https://www.neowin.net/news/1/")

    results = articles.save_many(engine, [new_article(f"https://mirror{i}.example/copy") for i in range(3)])

    assert [r.story_id for r in results] == [stored.story_id] * 3
    assert not any(r.new_story for r in results)
    assert story_row(engine, stored.story_id)["article_count"] == 4
    assert len(story_row(engine, stored.story_id)["outlets"]) == 4


def test_one_article_the_store_refuses_costs_only_itself(store_url, engines):
    """The batch fails as a whole, then is stored one article at a time: the bad one gets its own
    error back, the others are stored."""
    engine = open_store(store_url, engines)

    good, bad, also_good = articles.save_many(
        engine,
        [
            new_article("https://example.com/good"),
            new_article("https://example.com/naive", published=datetime(2024, 10, 21, 9, 30)),
            new_article("https://example.com/also-good", title="Xiaomi ships a phone", body="A phone."),
        ],
    )

    assert isinstance(bad, Exception) and "naive datetime" in str(bad)
    assert isinstance(good, articles.Saved) and isinstance(also_good, articles.Saved)
    assert articles.known_urls(engine, ["https://example.com/good", "https://example.com/naive"]) == {
        "https://example.com/good"
    }
    assert articles.count_by_source(engine) == {"neowin": 2}


def test_many_source_states_are_recorded_at_once(store_url, engines):
    engine = open_store(store_url, engines)
    sources.record_success(engine, "old", '"v1"', None)

    sources.record(
        engine,
        [
            sources.Poll("old", keep_validators=True),  # a 304
            sources.Poll("new", etag='"n1"', last_modified="Mon, 21 Oct 2024 01:30:12 GMT"),
            sources.Poll("broken", "HTTP 500 from https://example.com/feed"),
            sources.Poll("partial", article_failures=("HTTP 404 from https://example.com/a",)),
        ],
    )
    sources.record(engine, [sources.Poll("broken", "HTTP 500 again")])
    states = sources.all_states(engine)

    assert (states["old"].etag, states["old"].status) == ('"v1"', "ok")
    assert states["new"].last_modified == "Mon, 21 Oct 2024 01:30:12 GMT"
    assert (states["broken"].failures, states["broken"].last_error) == (2, "HTTP 500 again")
    assert (states["partial"].etag, states["partial"].status) == (None, "ok, 1 failed")


def test_held_sources_of_any_number_are_asked_for_in_one_statement(store_url, engines):
    """A first round holds back thousands of sources, a few fewer at each delivery run: one
    statement each time, not one more prepared statement of thousands of parameters per run."""
    engine = open_store(store_url, engines)
    for n in range(3):
        save(engine, f"https://example.com/{n}", title=f"Story {n}", body=f"Body {n} " * 12, source=f"s{n}")
    sent = Statements(engine)

    for count in range(1, 301):
        hold = {"s0", *(f"other{i}" for i in range(count))}
        assert {s.source for s in stories.unqueued(engine, hold=hold)} == {"s1", "s2"}
        assert set(sources.states(engine, sorted(hold))) <= hold

    assert len(sent.texts) == 2


def test_batch_lookups_send_a_few_statement_lengths(store_url, engines):
    engine = open_store(store_url, engines)
    save(engine, "https://example.com/stored")
    sent = Statements(engine)

    for count in range(1, 700, 3):
        urls = [f"https://example.com/{i}" for i in range(count)] + ["https://example.com/stored"]
        assert articles.known_urls(engine, urls) == {"https://example.com/stored"}

    assert len(sent.texts) <= 11  # 1, 2, 4 ... 512 values


@pytest.mark.parametrize("count", [0, 1, 2, 3, 5, 8, 9, 513])
def test_padded_lists_keep_their_values_in_a_power_of_two_length(count):
    values = [f"v{i}" for i in range(count)] * 2  # repeats are asked once

    chunked = list(chunks(values))

    assert [v for part in chunked for v in dict.fromkeys(part)] == values[:count]
    assert all(len(part) & (len(part) - 1) == 0 for part in chunked)
    assert padded(values[:count])[:count] == values[:count]


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


def test_sqlite_stores_map_no_file_into_memory(tmp_path):
    """Mapped pages count as each process's resident memory; reads go through the page cache."""
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA mmap_size")).scalar() == 0
    engine.dispose()


def test_a_new_sqlite_store_is_readable_by_its_owner_only(tmp_path):
    """It holds every subscriber's chat id: 0600 (its -wal and -shm too) in a new 0700 directory,
    whatever the umask."""
    old = os.umask(0o022)
    try:
        engine = connect(f"sqlite:///{tmp_path / 'data' / 'store.db'}")
        subscribers.subscribe(engine, 42, "private")
        files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "data").iterdir()}
        engine.dispose()
    finally:
        os.umask(old)

    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert files == {"store.db": 0o600, "store.db-wal": 0o600, "store.db-shm": 0o600}


def test_the_systemd_unit_creates_files_for_the_service_user_only():
    unit = (Path(__file__).resolve().parent.parent / "deploy" / "newswatch.service").read_text()
    assert "\nUMask=0077\n" in unit


def test_counts_by_source_cover_every_stored_article(store_url, engines):
    engine = open_store(store_url, engines)
    for i in range(3):
        save(engine, f"https://www.neowin.net/news/{i}/", title=f"Story {i}", body=f"Body number {i} " * 5)
    save(engine, "https://www.ithome.com/0/892/250.htm", title="其他", body="正文内容", source="ithome")

    assert articles.count_by_source(engine) == {"neowin": 3, "ithome": 1}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.articles)).scalar() == 4


# --- teasers stored from their feed alone; article failures in a source's status (schema v4) -----------

V4_COLUMNS = {"articles": {"page_missing"}, "sources": {"article_failures"}}


def test_a_version_3_store_gains_the_teaser_columns_and_keeps_its_rows(store_url, engines):
    engine = open_store(store_url, engines, upgrade=False)
    with engine.begin() as conn:  # today's tables without v4's columns are v3's tables
        schema.metadata.create_all(conn)
        for table, columns in V4_COLUMNS.items():
            for column in columns:
                conn.execute(text(f'ALTER TABLE {table} DROP COLUMN "{column}"'))
        conn.execute(schema.schema_version.insert().values(version=3))
    v3 = MetaData()
    v3_articles = Table("articles", v3, autoload_with=engine)
    v3_sources = Table("sources", v3, autoload_with=engine)
    assert "page_missing" not in v3_articles.c
    with engine.begin() as conn:
        conn.execute(v3_sources.insert().values(name="neowin", failures=0, last_poll=WHEN, last_success=WHEN))
        conn.execute(
            v3_articles.insert().values(
                url="https://www.neowin.net/news/1/",
                source="neowin",
                title="OpenAI blocks API access in China",
                summary="",
                body="",
                lang="en",
                author="",
                image="",
                fetched=WHEN.replace(tzinfo=None),
                fingerprint="0" * 32,
                relevant=False,
                score=0.0,
                tags={},
                watched=[],
                places=[],
            )
        )

    assert migrate(engine) == 3

    with engine.connect() as conn:
        for table, columns in V4_COLUMNS.items():
            assert columns <= {c["name"] for c in inspect(conn).get_columns(table)}
    assert articles.count_by_source(engine) == {"neowin": 1}
    assert articles.pending_pages(engine, ["https://www.neowin.net/news/1/"]) == set()
    state = sources.get(engine, "neowin")
    assert (state.article_failures, state.status) == (None, "ok")


def teaser_keys(title: str, body: str, detection: Detection) -> StoryKeys:
    return story_keys(f"{title}\n{body}".lower(), detection)


def test_a_teaser_is_pending_until_its_page_fills_it_in(store_url, engines):
    engine = open_store(store_url, engines)
    url = "https://www.scmp.com/tech/article/3283"
    teaser = Article(
        source="scmp",
        url=url,
        title="Gemini news",
        body="Google changes Gemini.",
        summary="Google changes Gemini.",
        lang="en",
        published=WHEN,
        page_missing=True,
    )
    quiet = Detection(relevant=False, score=0.1)
    saved = articles.save(engine, teaser, quiet, teaser_keys(teaser.title, teaser.body, quiet))
    assert saved is not None

    assert articles.known_urls(engine, [url]) == {url}
    assert articles.pending_pages(engine, [url, "https://other.example/"]) == {url}

    body = "Google has stopped offering Gemini to users in Hong Kong, the company said."
    page = replace(teaser, body=body, summary=body, author="Staff", page_missing=False)
    hong_kong = Detection(relevant=True, score=0.9, tags=Tags(providers=("google",), regions=("HK",)))
    assert articles.fill_in_page(engine, page, hong_kong, teaser_keys(page.title, body, hong_kong))

    assert articles.pending_pages(engine, [url]) == set()
    assert not articles.fill_in_page(engine, page, hong_kong, teaser_keys(page.title, body, hong_kong))
    with engine.connect() as conn:
        row = conn.execute(select(schema.articles).where(schema.articles.c.url == url)).mappings().one()
    assert (row["id"], row["story_id"], row["body"], row["author"]) == (
        saved.article_id,
        saved.story_id,
        body,
        "Staff",
    )
    assert row["relevant"] and row["tags"]["regions"] == ["HK"]
    with engine.connect() as conn:
        story = (
            conn.execute(select(schema.stories).where(schema.stories.c.id == saved.story_id)).mappings().one()
        )
    assert story["relevant"] and story["kept"] and story["tags"]["regions"] == ["HK"]
    assert (story["summary"], story["article_count"]) == (body, 1)


def test_article_failures_are_counted_in_the_source_status(store_url, engines):
    engine = open_store(store_url, engines)

    sources.record_success(
        engine, "scmp", None, None, article_failures=["HTTP 403 from https://www.scmp.com/a", "timed out"]
    )
    failing = sources.get(engine, "scmp")
    sources.record_success(engine, "scmp", '"v1"', None)
    clean = sources.get(engine, "scmp")

    assert (failing.status, failing.article_failures, failing.last_error) == (
        "ok, 2 failed",
        2,
        "HTTP 403 from https://www.scmp.com/a",
    )
    assert (clean.status, clean.article_failures, clean.last_error) == ("ok", 0, None)
