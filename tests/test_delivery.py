"""Each story reaches each interested subscriber exactly once, whatever Telegram answers.

Real python-telegram-bot sends through the delivery job to the fake Bot API, which answers like
Telegram: flood limits, blocked users, unknown chats, migrated groups, 5xx, slow answers. What
arrived is counted at the fake server, per chat.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bot.delivery import ALERTS_SINCE, Delivery
from bot.render import render_alert
from bot.senders import ConsoleSender
from newswatch.config import AlertsConfig
from newswatch.storage import outbox, schema, subscribers
from newswatch.storage import stories as story_store
from tests.conftest import Arrivals
from tests.fixtures.botapi import FakeBotAPI

# PTB itself reads the deprecated int RetryAfter.retry_after when building the exception message.
pytestmark = pytest.mark.filterwarnings("ignore:.*`retry_after` will be of type:DeprecationWarning")

ROOT = Path(__file__).resolve().parent.parent
AZURE = "微软：10 月 21 日起停止向中国大陆个人开发者提供 Azure OpenAI 服务"
AZURE_TEXT = "微软宣布将停止向中国大陆的个人开发者提供 Azure OpenAI 服务，企业客户不受影响。"
AZURE_AGAIN = "微软将停止向中国大陆个人开发者提供 Azure OpenAI 服务"
XIAOMI = "小米 15 发布：骁龙 8 至尊版，售价 4499 元起"
XIAOMI_TEXT = "小米今天发布了小米 15 手机，搭载骁龙 8 至尊版处理器。"
GEMINI_EU = "Google Gemini app not available in the EU at launch"
GEMINI_EU_TEXT = (
    "Google says its Gemini app will not be available to users in the European Union at launch "
    "because of regulatory uncertainty."
)


def per_chat(api: FakeBotAPI) -> collections.Counter[int]:
    return collections.Counter(m["chat_id"] for m in api.sent)


def statuses(engine: Engine) -> dict[str, int]:
    return outbox.counts(engine)


def private_chats(api: FakeBotAPI, subscribe, chats) -> None:
    for chat in chats:
        api.add_private_chat(chat)
        subscribe(chat)


# ------------------------------------------------------------------------------------- fan-out


def test_a_story_reaches_every_subscriber_once_as_the_rendered_alert(
    botapi: FakeBotAPI, store: Engine, publish, subscribe, deliver
) -> None:
    private_chats(botapi, subscribe, [1, 2, 3])
    botapi.add_group(-100, admins=[7])
    subscribe(-100)
    story_id = publish(AZURE, AZURE_TEXT)

    deliver()

    assert per_chat(botapi) == {1: 1, 2: 1, 3: 1, -100: 1}
    expected = render_alert(story_store.get(store, story_id))
    assert {m["raw_text"] for m in botapi.sent} == {expected}
    assert all(m["parse_mode"] == "HTML" for m in botapi.sent)
    assert statuses(store) == {"sent": 4}


def test_fanning_out_twice_queues_and_sends_once(
    botapi: FakeBotAPI, store: Engine, publish, subscribe, deliver
) -> None:
    private_chats(botapi, subscribe, [1, 2])
    story_id = publish(AZURE, AZURE_TEXT)
    delivery = Delivery(store, ConsoleSender(), AlertsConfig())

    assert delivery.fanout() == 2
    with store.begin() as conn:  # as if the service died before marking the story queued
        conn.execute(schema.stories.update().values(queued=False))
    assert delivery.fanout() == 0

    deliver()
    deliver()

    assert per_chat(botapi) == {1: 1, 2: 1}
    with store.connect() as conn:
        rows = conn.execute(select(schema.outbox.c.subscriber_id, schema.outbox.c.story_id)).all()
    assert len(rows) == 2 and {r.story_id for r in rows} == {story_id}


def test_first_start_stores_stories_without_alerting_them(
    botapi: FakeBotAPI, store: Engine, publish, subscribe
) -> None:
    private_chats(botapi, subscribe, [1])
    with store.begin() as conn:  # a fresh store: the service has not finished its first round
        conn.execute(schema.meta.delete().where(schema.meta.c.key == ALERTS_SINCE))
    history = publish(AZURE, AZURE_TEXT)
    delivery = Delivery(store, ConsoleSender(), AlertsConfig())

    assert delivery.fanout() == 0
    story_store.set_meta(store, ALERTS_SINCE, datetime.now(UTC).isoformat())  # first round done
    news = publish(GEMINI_EU, GEMINI_EU_TEXT, source="theverge", lang="en")
    assert delivery.fanout() == 1

    with store.connect() as conn:
        queued = set(conn.execute(select(schema.outbox.c.story_id)).scalars())
    assert queued == {news} and history not in queued
    assert story_store.get(store, history) is not None  # stored all the same


def test_a_source_added_later_has_its_first_poll_stored_as_history(store: Engine, publish, subscribe) -> None:
    subscribe(1)
    delivery = Delivery(store, ConsoleSender(), AlertsConfig())
    delivery.history_sources = {"ithome"}  # the service found it never polled
    backlog = publish(AZURE, AZURE_TEXT)  # what its first poll stores
    other = publish(GEMINI_EU, GEMINI_EU_TEXT, source="theverge", lang="en")

    assert delivery.fanout() == 1  # the other source's news goes out; the backlog waits
    assert story_store.mark_history(store, "ithome") == 1  # the first poll ended
    delivery.history_sources.clear()
    assert delivery.fanout() == 0

    with store.connect() as conn:
        queued = set(conn.execute(select(schema.outbox.c.story_id)).scalars())
    assert queued == {other} and backlog not in queued


def test_articles_first_seen_long_after_publication_are_stored_not_alerted(
    store: Engine, publish, subscribe
) -> None:
    subscribe(1)
    stale = publish(AZURE, AZURE_TEXT, published=datetime.now(UTC) - timedelta(hours=49))
    fresh = publish(GEMINI_EU, GEMINI_EU_TEXT, source="theverge", lang="en")

    Delivery(store, ConsoleSender(), AlertsConfig(max_age=48 * 3600)).fanout()

    with store.connect() as conn:
        queued = set(conn.execute(select(schema.outbox.c.story_id)).scalars())
    assert queued == {fresh}
    assert story_store.get(store, stale) is not None


def test_regions_providers_and_keywords_decide_who_gets_which_story(
    botapi: FakeBotAPI, store: Engine, publish, subscribe, deliver
) -> None:
    everyone, china, russia, google, eu_microsoft, xiaomi_fan = 1, 2, 3, 4, 5, 6
    for chat in (everyone, china, russia, google, eu_microsoft, xiaomi_fan):
        botapi.add_private_chat(chat)
    subscribe(everyone)
    subscribe(china, regions=["CN"])
    subscribe(russia, regions=["RU"])
    subscribe(google, providers=["google"])
    subscribe(eu_microsoft, regions=["EU"], providers=["microsoft"])
    subscribe(xiaomi_fan, regions=["RU"], keywords=["小米"])  # an off-topic story, by keyword
    publish(AZURE, AZURE_TEXT)
    publish(XIAOMI, XIAOMI_TEXT)
    publish(GEMINI_EU, GEMINI_EU_TEXT, source="theverge", lang="en")

    deliver()

    def got(chat: int) -> set[str]:
        return {m["text"].split("\n")[0][2:] for m in botapi.messages(chat)}

    assert got(everyone) == {AZURE, GEMINI_EU}
    assert got(china) == {AZURE}
    assert got(russia) == set()
    assert got(google) == {GEMINI_EU}
    assert got(eu_microsoft) == set()  # EU but not Microsoft, Microsoft but not the EU
    assert got(xiaomi_fan) == {XIAOMI}


# ------------------------------------------------------------------------- "also reported by"


def test_a_second_outlet_edits_the_sent_alert_instead_of_sending_another(
    botapi: FakeBotAPI, store: Engine, publish, subscribe, deliver
) -> None:
    private_chats(botapi, subscribe, [1, 2])
    first = publish(AZURE, AZURE_TEXT, source="ithome")
    deliver()

    second = publish(AZURE_AGAIN, AZURE_AGAIN + "。企业客户不受影响。", source="cnbeta")
    assert second == first  # the same story
    deliver()

    assert per_chat(botapi) == {1: 1, 2: 1}
    assert len(botapi.edits) == 2
    for chat in (1, 2):
        (alert,) = botapi.messages(chat)
        assert "Also reported by cnbeta" in alert["text"]
        assert alert["text"].startswith("🚫 " + AZURE)
    deliver()  # nothing more to edit
    assert len(botapi.edits) == 2


def test_an_alert_sent_after_the_second_outlet_already_names_it_and_is_not_edited(
    botapi: FakeBotAPI, publish, subscribe, deliver
) -> None:
    private_chats(botapi, subscribe, [1])
    publish(AZURE, AZURE_TEXT, source="ithome")
    publish(AZURE_AGAIN, AZURE_AGAIN + "。企业客户不受影响。", source="cnbeta")

    deliver()

    (alert,) = botapi.messages(1)
    assert "Also reported by cnbeta" in alert["text"]
    assert botapi.edits == []


# --------------------------------------------------------------------------------- languages

AZURE_EN = "Microsoft to stop offering Azure OpenAI to individual developers in mainland China"
AZURE_EN_TEXT = (
    "Microsoft will stop offering Azure OpenAI to individual developers in China. "
    "Enterprise customers are not affected."
)


def language_chats(api: FakeBotAPI, store: Engine, langs: dict[int, str]) -> None:
    """Private chats whose users started the bot with Telegram set to these languages."""
    for chat, code in langs.items():
        api.add_private_chat(chat, language_code=code)
        subscribers.subscribe(store, chat, "private", f"chat {chat}", subscribers.lang_of(code))


def lead_title(alert: dict) -> str:
    return alert["text"].split("\n")[0].removeprefix("🚫 ")


def test_a_story_in_two_languages_leads_each_alert_with_its_subscribers_language(
    botapi: FakeBotAPI, store: Engine, publish, deliver
) -> None:
    language_chats(botapi, store, {1: "zh-hans", 2: "en-GB", 3: "de"})
    chinese = publish(AZURE, AZURE_TEXT, source="ithome", lang="zh")
    english = publish(AZURE_EN, AZURE_EN_TEXT, source="theverge", lang="en")
    assert chinese == english

    deliver()

    assert per_chat(botapi) == {1: 1, 2: 1, 3: 1}
    (zh,), (en,), (de,) = (botapi.messages(chat) for chat in (1, 2, 3))
    assert lead_title(zh) == AZURE and "其他报道：theverge" in zh["text"]  # and our words in Chinese
    assert lead_title(en) == AZURE_EN == lead_title(de) and "Also reported by ithome" in en["text"]
    assert "Also reported by ithome" in de["text"]  # a language we have no catalog for: English


def test_an_edited_alert_keeps_the_report_it_led_with(
    botapi: FakeBotAPI, store: Engine, publish, deliver
) -> None:
    language_chats(botapi, store, {2: "en"})
    publish(AZURE, AZURE_TEXT, source="ithome", lang="zh")
    deliver()  # only the Chinese report so far: it leads
    publish(AZURE_EN, AZURE_EN_TEXT, source="theverge", lang="en")
    deliver()
    publish(AZURE_EN + " (update)", AZURE_EN_TEXT, source="scmp", lang="en")
    deliver()

    (alert,) = botapi.messages(2)
    assert len(botapi.edits) == 2
    assert lead_title(alert) == AZURE and "Also reported by theverge, scmp" in alert["text"]


def test_a_lift_names_the_restriction_it_lifts(
    botapi: FakeBotAPI, store: Engine, publish, subscribe, deliver
) -> None:
    private_chats(botapi, subscribe, [1])
    publish(
        "Italy blocks ChatGPT",
        "The Garante ordered OpenAI to stop processing Italians' data.",
        source="reuters",
        lang="en",
        published=datetime.now(UTC) - timedelta(days=28),  # long before: stored, never alerted
    )
    lift = publish(
        "Italy lifts its ChatGPT ban", "OpenAI restored access for Italians.", source="reuters", lang="en"
    )

    deliver()

    (alert,) = botapi.messages(1)
    assert alert["text"].startswith("✅ Lifted\n✅ Italy lifts its ChatGPT ban")
    assert "Earlier: Italy blocks ChatGPT (" in alert["text"]
    assert story_store.get(store, lift).change == "lifted"


def test_editing_an_alert_for_a_user_who_blocked_the_bot_deactivates_them(
    botapi: FakeBotAPI, store: Engine, publish, subscribe, deliver
) -> None:
    private_chats(botapi, subscribe, [1])
    publish(AZURE, AZURE_TEXT)
    deliver()
    botapi.block(1)
    publish(AZURE_AGAIN, AZURE_AGAIN + "。企业客户不受影响。", source="cnbeta")

    deliver(timeout=3)

    assert not subscribers.get(store, 1).active
    assert outbox.needing_edit(store) == []


# ------------------------------------------------------------------------- Telegram's answers


def test_a_429_is_waited_out_and_the_alert_still_arrives(
    botapi: FakeBotAPI, store: Engine, publish, subscribe, deliver, arrivals: Arrivals
) -> None:
    private_chats(botapi, subscribe, [1, 2, 3])
    publish(AZURE, AZURE_TEXT)
    botapi.fail_next("sendMessage", 429)  # "retry after 1"

    deliver()

    assert per_chat(botapi) == {1: 1, 2: 1, 3: 1}
    (flood,) = [e for e in arrivals.errors if e.error_code == 429]
    later = [t for t in arrivals.sends() if t > flood.at]
    assert min(later) - flood.at >= 0.9  # nothing at all went out before retry_after was over


def test_a_server_that_allows_less_than_the_usual_rate_gets_every_alert_once(
    store: Engine, publish, subscribe, deliver
) -> None:
    with FakeBotAPI(global_rate=4) as slow, Arrivals(slow) as arrivals:
        private_chats(slow, subscribe, range(1, 13))
        publish(AZURE, AZURE_TEXT)

        deliver(api=slow)

        assert per_chat(slow) == dict.fromkeys(range(1, 13), 1)
        floods = [e.at for e in arrivals.errors if e.error_code == 429]
        assert floods, "the fake should have answered 429 at least once"
        for flood in floods:  # each retry_after (1 s) was honored: nothing sent during it
            assert not [t for t in arrivals.sends() if flood < t < flood + 0.9]


def test_a_user_who_blocked_the_bot_is_deactivated_and_their_pending_alerts_dropped(
    botapi: FakeBotAPI, store: Engine, publish, subscribe, deliver
) -> None:
    private_chats(botapi, subscribe, [1, 2])
    botapi.block(2)
    publish(AZURE, AZURE_TEXT)
    publish(GEMINI_EU, GEMINI_EU_TEXT, source="theverge", lang="en")

    deliver()

    assert per_chat(botapi) == {1: 2}
    gone = subscribers.get(store, 2)
    assert not gone.active and "blocked" in gone.inactive_reason
    assert statuses(store) == {"sent": 2, "dropped": 2}
    assert [e["error_code"] for e in botapi.errors] == [403]  # tried once, not again and again


@pytest.mark.parametrize("gone", ["unknown", "deactivated", "kicked"])
def test_a_chat_that_is_gone_is_deactivated(
    botapi: FakeBotAPI, store: Engine, publish, subscribe, deliver, gone: str
) -> None:
    private_chats(botapi, subscribe, [1])
    if gone == "unknown":
        subscribe(999)  # "Bad Request: chat not found"
    elif gone == "deactivated":
        private_chats(botapi, subscribe, [999])
        botapi.deactivate(999)
    else:
        botapi.add_group(-999, admins=[7])
        subscribe(-999)
        botapi.kick(-999)
    publish(AZURE, AZURE_TEXT)

    deliver()

    assert per_chat(botapi) == {1: 1}
    assert [s.chat_id for s in subscribers.active(store)] == [1]


def test_a_group_that_became_a_supergroup_gets_the_alert_in_its_new_chat(
    botapi: FakeBotAPI, store: Engine, publish, subscribe, deliver
) -> None:
    botapi.add_group(-100, admins=[7])
    subscribe(-100)
    botapi.migrate(-100, -1001234567890)
    publish(AZURE, AZURE_TEXT)

    deliver()

    assert per_chat(botapi) == {-1001234567890: 1}
    assert subscribers.get(store, -100) is None
    moved = subscribers.get(store, -1001234567890)
    assert moved.active and moved.kind == "supergroup"


def test_a_migrated_group_whose_supergroup_subscribed_again_gets_the_alert_once(
    botapi: FakeBotAPI, store: Engine, publish, subscribe, deliver
) -> None:
    botapi.add_group(-100, admins=[7])
    subscribe(-100)
    publish(AZURE, AZURE_TEXT)
    Delivery(store, ConsoleSender(), AlertsConfig()).fanout()  # queued for the old group
    botapi.migrate(-100, -1009)
    subscribe(-1009, "supergroup")  # an admin sent /start in the supergroup meanwhile

    deliver()

    assert per_chat(botapi) == {-1009: 1}
    assert not subscribers.get(store, -100).active


def test_5xx_answers_are_retried_with_backoff_until_the_alert_arrives(
    botapi: FakeBotAPI, store: Engine, publish, subscribe, deliver, arrivals: Arrivals
) -> None:
    private_chats(botapi, subscribe, [1, 2])
    publish(AZURE, AZURE_TEXT)
    botapi.fail_next("sendMessage", 502)
    botapi.fail_next("sendMessage", 500)

    deliver()

    assert per_chat(botapi) == {1: 1, 2: 1}
    failed = [e for e in arrivals.errors if e.error_code in (500, 502)]
    assert len(failed) == 2
    retries = [t for t in arrivals.sends() if t > failed[-1].at]
    assert min(retries) - failed[0].at >= 1.5  # backed off, did not hammer
    assert statuses(store) == {"sent": 2}


def test_a_send_that_times_out_is_retried_and_arrives_at_most_twice(
    botapi: FakeBotAPI, store: Engine, publish, subscribe, deliver
) -> None:
    private_chats(botapi, subscribe, [1, 2])
    publish(AZURE, AZURE_TEXT)
    botapi.delay_next("sendMessage", 1.5)  # beyond the bot's read timeout; Telegram still sends it

    deliver(read_timeout=0.5)

    counts = per_chat(botapi)
    assert set(counts) == {1, 2}
    assert sorted(counts.values()) == [1, 2]  # the timed-out chat got the one duplicate
    assert statuses(store) == {"sent": 2}


def test_the_outbox_works_the_same_on_sqlite_and_postgresql(store_url: str, detector) -> None:
    """Unique per (subscriber, story), migrated groups, due rows: on both stores the service supports."""
    from newswatch.models import Article
    from newswatch.storage import articles, connect

    engine = connect(store_url)
    try:
        story_store.set_meta(engine, ALERTS_SINCE, (datetime.now(UTC) - timedelta(hours=1)).isoformat())
        for chat, kind in ((1, "private"), (-100, "group"), (-1009, "supergroup"), (0, "console")):
            subscribers.subscribe(engine, chat, kind)
        for n, (title, text) in enumerate([(AZURE, AZURE_TEXT), (GEMINI_EU, GEMINI_EU_TEXT)]):
            detection, keys = detector.analyze(title, text)
            article = Article(
                "ithome", f"https://ithome.example/{n}", title, text, text, "zh", datetime.now(UTC)
            )
            articles.save(engine, article, detection, keys)
        delivery = Delivery(engine, ConsoleSender(), AlertsConfig())

        assert delivery.fanout() == 8
        with engine.begin() as conn:
            conn.execute(schema.stories.update().values(queued=False))
        assert delivery.fanout() == 0
        supergroup = subscribers.get(engine, -1009).id
        with engine.begin() as conn:  # the supergroup subscribed after the first story and got it
            mine = schema.outbox.c.subscriber_id == supergroup
            first = select(schema.outbox.c.story_id).where(mine).order_by(schema.outbox.c.id).limit(1)
            first_story = conn.execute(first).scalar()
            conn.execute(schema.outbox.delete().where(mine, schema.outbox.c.story_id != first_story))
            conn.execute(schema.outbox.update().where(mine).values(status="sent"))
        subscribers.migrate_chat(engine, -100, -1009)

        due = outbox.due(engine, datetime.now(UTC))
        assert sorted(r.chat_id for r in due) == [-1009, 1, 1]  # the second story moved to it
        assert {r.story_id for r in due if r.chat_id == -1009} != {first_story}
        assert [r.chat_id for r in outbox.due(engine, datetime.now(UTC), console=True)] == [0, 0]
        assert outbox.counts(engine) == {"pending": 5, "sent": 1, "dropped": 1}
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------ console mode


def test_without_a_token_the_console_gets_alerts_and_telegram_chats_keep_theirs(
    store: Engine, publish, subscribe, capsys
) -> None:
    import asyncio

    subscribe(0, "console")
    subscribe(1)
    publish(AZURE, AZURE_TEXT)
    delivery = Delivery(store, ConsoleSender(), AlertsConfig(), console=True)

    asyncio.run(delivery.run_once())

    out = capsys.readouterr().out
    assert out.count("=== ALERT ===") == 1
    assert f"🚫 {AZURE}" in out and "Read the article (https://ithome.example/" in out
    assert statuses(store) == {"sent": 1, "pending": 1}  # the Telegram chat's waits for the bot


# ------------------------------------------------------------------------------ crash safety


def service_config(tmp_path: Path, store: Engine, api: FakeBotAPI) -> Path:
    path = tmp_path / "service.toml"
    path.write_text(
        f'[storage]\nurl = "{store.url.render_as_string(hide_password=False)}"\n\n'
        f'[telegram]\ntoken = "{api.token}"\napi_base_url = "{api.base_url}"\n\n'
        '[alerts]\ndelivery_interval = "1s"\n\n[web]\nlisten = ""\n',
        encoding="utf-8",
    )
    return path


def start_service(config: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    return subprocess.Popen(
        [sys.executable, "-m", "newswatch", "--config", str(config), "run"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_service_killed_mid_send_loses_nothing_and_repeats_at_most_one_alert_per_chat(
    tmp_path: Path, botapi: FakeBotAPI, store: Engine, publish, subscribe
) -> None:
    chats = range(1, 241)
    private_chats(botapi, subscribe, chats)
    publish(AZURE, AZURE_TEXT)
    config, log = service_config(tmp_path, store, botapi), tmp_path / "service.log"

    def chats_reached(api: FakeBotAPI) -> int:
        return len({m["chat_id"] for m in api.sent})

    # 1. kill -9 mid-send: no chance to record what was in flight
    first = start_service(config, log)
    try:
        assert botapi.wait_for(lambda api: len(api.sent) >= 60, timeout=30), log.read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(5)
    finally:
        first.kill()

    # 2. restart, then SIGTERM mid-send: in-flight sends finish and are recorded, exit within 10 s
    second = start_service(config, log)
    try:
        assert botapi.wait_for(lambda api: chats_reached(api) >= 150, timeout=30), log.read_text()
        stopping = time.monotonic()
        second.send_signal(signal.SIGTERM)
        assert second.wait(10) == 0
        assert time.monotonic() - stopping < 10
    finally:
        second.kill()
    after_crash = sum(per_chat(botapi).values()) - chats_reached(botapi)  # the kill's duplicates
    assert chats_reached(botapi) < len(chats)

    # 3. restart: the rest, and nothing again
    third = start_service(config, log)
    try:
        assert botapi.wait_for(lambda api: chats_reached(api) == len(chats), timeout=30), log.read_text()
        time.sleep(1.0)  # anything still to come would come now
    finally:
        third.send_signal(signal.SIGTERM)
        assert third.wait(10) == 0

    counts = per_chat(botapi)
    assert set(counts) == set(chats)  # nothing lost
    assert max(counts.values()) <= 2  # at most one duplicate per chat
    assert after_crash <= 16  # only what was in flight at the kill: the send concurrency
    assert sum(counts.values()) - len(chats) == after_crash  # none from the SIGTERM
    assert statuses(store) == {"sent": len(chats)}
    assert botapi.too_many_requests == 0
