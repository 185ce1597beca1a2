"""Table definitions: the current schema. ``db.MIGRATIONS`` says how older stores reach it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in Python, naive UTC in the column: the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


metadata = MetaData()

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_poll", UTCDateTime),
    Column("last_success", UTCDateTime),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("article_failures", Integer),  # articles of the last poll that failed; NULL before v4: none
)

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(2048), nullable=False, unique=True),  # canonical: the identity
    Column("link", String(2048)),  # as published, shown to users; NULL: same as url (stores before v3)
    Column("source", String(64), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("body", Text, nullable=False, default=""),
    Column("lang", String(8), nullable=False),
    Column("author", Text, nullable=False, default=""),
    Column("image", Text, nullable=False, default=""),
    Column("published", UTCDateTime),
    Column("fetched", UTCDateTime, nullable=False, index=True),
    Column("fingerprint", String(32), nullable=False, index=True),
    Column("signature", LargeBinary),
    Column("relevant", Boolean, nullable=False, default=False),
    Column("score", Float, nullable=False, default=0.0),
    Column("tags", JSON, nullable=False),
    Column("watched", JSON, nullable=False),
    Column("places", JSON, nullable=False, default=list),
    Column("effective", Date),  # when the change takes effect, when the text says
    Column("story_id", String(16), ForeignKey("stories.id"), index=True),
    # stored from its feed alone, its page failing: fetched again on later polls until it is read
    Column("page_missing", Boolean),
)

stories = Table(
    "stories",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("title", Text, nullable=False),
    Column("url", String(2048), nullable=False),
    Column("source", String(64), nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("lang", String(8), nullable=False),
    Column("published", UTCDateTime, nullable=False),
    Column("created", UTCDateTime, nullable=False, index=True),
    Column("updated", UTCDateTime, nullable=False),
    Column("relevant", Boolean, nullable=False, default=False),
    Column("kept", Boolean, nullable=False, default=False, index=True),  # relevant or watched
    Column("score", Float, nullable=False, default=0.0),
    Column("tags", JSON, nullable=False),
    Column("watched", JSON, nullable=False),
    # [{"source", "url", "title", "lang", "summary"}] in order of arrival ("lang", "summary" since v3)
    Column("outlets", JSON, nullable=False),
    Column("article_count", Integer, nullable=False, default=1),
    Column("queued", Boolean, nullable=False, default=False, index=True),  # fanned out to the outbox
    Column("effective", Date),  # when the change takes or took effect, when a report says
    # A change of status of an earlier story (it takes effect, is lifted, reaches a new region or
    # audience) is a story of its own that names the earlier one.
    Column("parent_id", String(16), index=True),
    Column("change", String(16)),  # NULL (a new event) | "effective" | "lifted" | "extended"
    # covers what story lookup reads of each candidate's story: no visit to the wide rows
    Index("ix_stories_first", "id", "published", "effective", "parent_id", "change"),
)

story_keys = Table(
    "story_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(48), nullable=False),
    Column("published", UTCDateTime, nullable=False),
    Column("story_id", String(16), ForeignKey("stories.id"), nullable=False),
    Column("article_id", Integer, ForeignKey("articles.id"), nullable=False),
    Index("ix_story_keys_key_published", "key", "published"),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", BigInteger, nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # private | group | supergroup | channel
    Column("title", Text, nullable=False, default=""),
    Column("active", Boolean, nullable=False, default=True, index=True),
    Column("regions", JSON, nullable=False),  # [] = every region
    Column("providers", JSON, nullable=False),  # [] = every provider
    Column("keywords", JSON, nullable=False),
    Column("lang", String(8)),  # "zh" | "en"; NULL: not chosen yet (stores before v3: English)
    Column("tz", String(64)),  # an IANA name; NULL: the default of the language (Asia/Shanghai for zh, UTC)
    Column("quiet", String(16)),  # "23:00-08:00": alerts then are held for a digest; NULL: none
    Column("digest", String(16)),  # "daily 09:00": one digest a day instead of alerts; NULL: none
    Column("created", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    Column("inactive_reason", Text),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("story_id", String(16), ForeignKey("stories.id"), nullable=False),
    Column("status", String(16), nullable=False, default="pending", index=True),  # pending|sent|dropped
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt", UTCDateTime, nullable=False),
    Column("message_id", BigInteger),
    Column("sent_at", UTCDateTime),
    Column("rendered_count", Integer, nullable=False, default=0),  # outlets shown in the sent message
    # the outlet (its link) that led the sent alert, kept through edits; NULL: the story's first report
    Column("lead", String(2048)),
    Column("last_error", Text),
    # Held for a digest (quiet hours, a daily digest) until next_attempt, not sent as an alert of its
    # own; NULL or false: an alert. part_id: the digest message that carries it once its time has come.
    Column("held", Boolean),
    Column("part_id", Integer, index=True),
    UniqueConstraint("subscriber_id", "story_id", name="uq_outbox_subscriber_story"),
    Index("ix_outbox_due", "status", "next_attempt"),
)

# One row per message of a digest (a long digest is several), its text fixed when it is composed: the
# outbox rows it carries (outbox.part_id) are its state, marked sent together when Telegram has it.
digest_parts = Table(
    "digest_parts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False, index=True),
    Column("text", Text, nullable=False),
    Column("created", UTCDateTime, nullable=False),
)


def utcnow() -> datetime:
    return datetime.now(UTC)
