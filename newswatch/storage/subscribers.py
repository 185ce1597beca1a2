"""Subscribers and what each one chose to receive: the bot's own table."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, select

from .schema import outbox, subscribers, utcnow

MAX_KEYWORDS = 50
LANGS = ("zh", "en")  # what a subscriber's alerts can lead with


@dataclass(frozen=True)
class Subscriber:
    id: int
    chat_id: int
    kind: str
    title: str = ""
    active: bool = True
    regions: tuple[str, ...] = ()  # empty: every region
    providers: tuple[str, ...] = ()  # empty: every provider
    keywords: tuple[str, ...] = ()
    inactive_reason: str | None = None
    lang: str | None = None  # one of LANGS; None until chosen (on /start from Telegram's language_code)
    tz: str | None = None  # an IANA name; None: the default of the language (bot.schedule)
    quiet: str | None = None  # "23:00-08:00"
    digest: str | None = None  # "daily 09:00"


def _row(r) -> Subscriber:
    return Subscriber(
        id=r.id,
        chat_id=r.chat_id,
        kind=r.kind,
        title=r.title,
        active=r.active,
        regions=tuple(r.regions),
        providers=tuple(r.providers),
        keywords=tuple(r.keywords),
        inactive_reason=r.inactive_reason,
        lang=r.lang,
        tz=r.tz,
        quiet=r.quiet,
        digest=r.digest,
    )


def get(engine: Engine, chat_id: int) -> Subscriber | None:
    with engine.connect() as conn:
        row = conn.execute(select(subscribers).where(subscribers.c.chat_id == chat_id)).first()
    return _row(row) if row else None


def subscribe(
    engine: Engine, chat_id: int, kind: str, title: str = "", lang: str | None = None
) -> tuple[Subscriber, bool]:
    """Create or reactivate; returns (subscriber, was it already active). ``lang`` is taken only
    when none was chosen yet: a language set with /lang survives another /start."""
    now = utcnow()
    with engine.begin() as conn:
        row = conn.execute(select(subscribers).where(subscribers.c.chat_id == chat_id)).first()
        if row is None:
            conn.execute(
                subscribers.insert().values(
                    chat_id=chat_id,
                    kind=kind,
                    title=title,
                    active=True,
                    regions=[],
                    providers=[],
                    keywords=[],
                    lang=lang,
                    created=now,
                    updated=now,
                )
            )
            was_active = False
        else:
            was_active = row.active
            conn.execute(
                subscribers.update()
                .where(subscribers.c.id == row.id)
                .values(
                    active=True,
                    kind=kind,
                    title=title or row.title,
                    lang=row.lang or lang,
                    updated=now,
                    inactive_reason=None,
                )
            )
    found = get(engine, chat_id)
    assert found is not None
    return found, was_active


def deactivate(engine: Engine, chat_id: int, reason: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            subscribers.update()
            .where(subscribers.c.chat_id == chat_id)
            .values(active=False, inactive_reason=reason, updated=utcnow())
        )


def migrate_chat(engine: Engine, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: same subscriber, new chat id. When the supergroup subscribed on
    its own meanwhile, the old subscriber is retired and its pending alerts move to the new one."""
    with engine.begin() as conn:
        new_id = conn.execute(select(subscribers.c.id).where(subscribers.c.chat_id == new_chat_id)).scalar()
        old_id = conn.execute(select(subscribers.c.id).where(subscribers.c.chat_id == old_chat_id)).scalar()
        if new_id is not None and old_id is not None:
            has_story = select(outbox.c.story_id).where(outbox.c.subscriber_id == new_id)
            conn.execute(
                outbox.update()
                .where(
                    and_(
                        outbox.c.subscriber_id == old_id,
                        outbox.c.status == "pending",
                        outbox.c.story_id.not_in(has_story),
                    )
                )
                .values(subscriber_id=new_id, part_id=None)  # a held one joins the new chat's digest
            )
            conn.execute(
                outbox.update()
                .where(and_(outbox.c.subscriber_id == old_id, outbox.c.status == "pending"))
                .values(status="dropped", last_error=f"chat migrated to {new_chat_id}")
            )
            conn.execute(
                subscribers.update()
                .where(subscribers.c.id == old_id)
                .values(active=False, inactive_reason=f"migrated to {new_chat_id}", updated=utcnow())
            )
        else:
            conn.execute(
                subscribers.update()
                .where(subscribers.c.chat_id == old_chat_id)
                .values(chat_id=new_chat_id, kind="supergroup", updated=utcnow())
            )


def update_choices(engine: Engine, chat_id: int, **choices: list[str]) -> Subscriber | None:
    """Set regions, providers and/or keywords (sorted lists) for a subscriber."""
    allowed = {"regions", "providers", "keywords"}
    assert set(choices) <= allowed
    with engine.begin() as conn:
        conn.execute(
            subscribers.update()
            .where(subscribers.c.chat_id == chat_id)
            .values(updated=utcnow(), **{k: sorted(set(v)) for k, v in choices.items()})
        )
    return get(engine, chat_id)


def set_schedule(engine: Engine, chat_id: int, **schedule: str | None) -> Subscriber | None:
    """Set tz, quiet and/or digest (checked by ``bot.schedule``; None clears one)."""
    assert set(schedule) <= {"tz", "quiet", "digest"}
    with engine.begin() as conn:
        conn.execute(
            subscribers.update().where(subscribers.c.chat_id == chat_id).values(updated=utcnow(), **schedule)
        )
    return get(engine, chat_id)


def set_lang(engine: Engine, chat_id: int, lang: str) -> Subscriber | None:
    """The language alerts lead with: "zh" or "en" (see ``LANGS``)."""
    assert lang in LANGS
    with engine.begin() as conn:
        conn.execute(
            subscribers.update().where(subscribers.c.chat_id == chat_id).values(lang=lang, updated=utcnow())
        )
    return get(engine, chat_id)


def lang_of(language_code: str | None) -> str:
    """Telegram's ``language_code`` (an IETF tag such as "zh-hans" or "en-GB") as a subscriber's
    language: Chinese for any zh tag, English otherwise."""
    return "zh" if (language_code or "").lower().startswith("zh") else "en"


def active(engine: Engine) -> list[Subscriber]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(subscribers).where(subscribers.c.active.is_(True)).order_by(subscribers.c.id)
        )
        return [_row(r) for r in rows]


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(subscribers.c.active, func.count()).group_by(subscribers.c.active))
        by_state = {bool(a): n for a, n in rows}
    return {"active": by_state.get(True, 0), "inactive": by_state.get(False, 0)}
