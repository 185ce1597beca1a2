"""Engine set-up and the versioned schema.

A new store gets the current tables and is stamped with the newest version. An older store is
brought forward one numbered migration at a time, each in its own transaction; migrations only add
(tables, columns, indexes), so an upgrade never loses data. Add a migration whenever schema.py
changes, written so that it also passes on a store that already has the change.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from . import schema

Migration = Callable[[Connection], None]


def _create_missing(*tables: str) -> Migration:
    def migrate(conn: Connection) -> None:
        schema.metadata.create_all(conn, tables=[schema.metadata.tables[t] for t in tables], checkfirst=True)

    return migrate


def _add_missing_columns(table: str, *columns: str) -> Migration:
    """ALTER TABLE ... ADD COLUMN for each column the table lacks (all nullable: old rows keep NULL)."""

    def migrate(conn: Connection) -> None:
        have = {c["name"] for c in inspect(conn).get_columns(table)}
        for name in columns:
            if name in have:
                continue
            column = schema.metadata.tables[table].c[name]
            assert column.nullable, f"{table}.{name}: columns added to existing stores must be nullable"
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f'ALTER TABLE {table} ADD COLUMN "{name}" {kind}')
            if column.index:
                conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_{table}_{name} ON {table} ({name})")

    return migrate


def _create_missing_indexes(table: str, *names: str) -> Migration:
    def migrate(conn: Connection) -> None:
        for index in schema.metadata.tables[table].indexes:
            if index.name in names:
                index.create(conn, checkfirst=True)

    return migrate


def _steps(*migrations: Migration) -> Migration:
    def migrate(conn: Connection) -> None:
        for step in migrations:
            step(conn)

    return migrate


# version -> how to reach it from the version before
MIGRATIONS: dict[int, Migration] = {
    1: _create_missing("meta", "sources", "stories", "articles", "story_keys"),
    2: _create_missing("subscribers", "outbox"),
    # stories are events: effective dates, status changes naming their parent; shown links; languages
    3: _steps(
        _add_missing_columns("articles", "link", "effective"),
        _add_missing_columns("stories", "effective", "parent_id", "change"),
        _add_missing_columns("subscribers", "lang"),
    ),
    # teasers stored from the feed while their page fails; article failures in a source's status
    4: _steps(
        _add_missing_columns("articles", "page_missing"),
        _add_missing_columns("sources", "article_failures"),
    ),
    # quiet hours and daily digests: each subscriber's schedule; held alerts; the digests' messages
    5: _steps(
        _create_missing("digest_parts"),
        _add_missing_columns("subscribers", "tz", "quiet", "digest"),
        _add_missing_columns("outbox", "held", "part_id"),
    ),
    # an alert led by the report in its subscriber's language keeps that lead when edited; story
    # lookup reads candidates' stories from an index
    6: _steps(_add_missing_columns("outbox", "lead"), _create_missing_indexes("stories", "ix_stories_first")),
}
LATEST = max(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    pass


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    return conn.execute(select(schema.schema_version.c.version)).scalar() or 0


@contextlib.contextmanager
def _one_migrator_at_a_time(engine: Engine) -> Iterator[None]:
    """Roles started together on a new PostgreSQL store (the scheduler and a crawler) would both
    create its tables, and the slower one fails in PostgreSQL's catalog ('duplicate key value
    violates unique constraint "pg_type_typname_nsp_index"'); a session advisory lock, one per
    schema, makes it wait and then find the store current. SQLite's BEGIN IMMEDIATE takes turns
    already."""
    if engine.dialect.name != "postgresql":
        yield
        return
    key = "SELECT hashtext('newswatch migrate ' || current_schema())"
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_lock(({key}))")
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock(({key}))")
            conn.commit()


def migrate(engine: Engine) -> int:
    """Bring the store to ``LATEST``; returns the version it was at."""
    with _one_migrator_at_a_time(engine):
        return _migrate(engine)


def _migrate(engine: Engine) -> int:
    with engine.begin() as conn:
        schema.schema_version.create(conn, checkfirst=True)
        found = current_version(conn)
        if found > LATEST:
            raise SchemaTooNew(
                f"the store is at schema version {found}, this newswatch knows {LATEST}: upgrade it"
            )
        if conn.execute(select(func.count()).select_from(schema.schema_version)).scalar() == 0:
            conn.execute(schema.schema_version.insert().values(version=0))  # one row, ever
    for version in range(found + 1, LATEST + 1):
        with engine.begin() as conn:
            if current_version(conn) >= version:  # another process got there first
                continue
            MIGRATIONS[version](conn)
            conn.execute(schema.schema_version.update().values(version=version))
    return found


def _sqlite_pragmas(cache_kib: int):
    def set_pragmas(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, see _sqlite_begin
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers (the bot) never block the writer (a crawl)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA cache_size=-{cache_kib}")
        # no memory map: its pages count as each process's resident memory (109 MB more at the peak
        # of a 1,000-feed first poll, bench/poll) and reads through the OS page cache are as fast
        cursor.execute("PRAGMA mmap_size=0")
        cursor.close()

    return set_pragmas


def _sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock up front, so two crawl processes assigning stories at once run
    # one after the other instead of both missing each other's new story.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def check_writable(engine: Engine) -> None:
    """Raise the store's own error unless it takes a write (a read-only or immutable file, a
    read-only database user): the service finds out at start, not at its first alert."""
    with engine.begin() as conn:
        conn.execute(schema.schema_version.update().values(version=schema.schema_version.c.version))


def _create_private(path: Path) -> None:
    """A new SQLite store is its owner's alone (mode 0600 in a new 0700 directory): it holds every
    subscriber's chat id and choices. SQLite gives its -wal and -shm files the same mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


# 8 MB per connection: what a batch of a crawl writes, and its lookups. Reads of the story-key index
# come from the OS page cache, not from copies in this cache, which is process memory on top of it
# (64 MB here made a first poll's peak 40 MB higher, none the faster).
STORY_CACHE_KIB = 8192
SMALL_CACHE_KIB = 4096  # a process that only reads a few rows at a time (the service)


def connect(
    url: str, *, upgrade: bool = True, pooled: bool = True, cache_kib: int = STORY_CACHE_KIB
) -> Engine:
    """An engine on the store; ``pooled=False`` opens a new connection each time (a health probe
    must see what a new writer would, not what a connection opened an hour ago still can do);
    ``cache_kib``: SQLite's page cache per connection, which is process memory (a pool holds
    several connections)."""
    database = make_url(url).database
    if url.startswith("sqlite") and database and database != ":memory:" and not database.startswith("file:"):
        _create_private(Path(database))
    kwargs = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    if not pooled:
        kwargs["poolclass"] = NullPool
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(cache_kib))
        event.listen(engine, "begin", _sqlite_begin)
    if upgrade:
        migrate(engine)
    return engine
