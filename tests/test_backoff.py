"""A failing source is polled less and less often (exponential, capped), and normally again once it
works; whether it is due is read from its state in the store, whoever polled it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from newswatch import config as cfg
from newswatch.polling import MAX_BACKOFF, backoff_seconds, is_due, next_poll
from newswatch.storage import connect, sources
from newswatch.storage.schema import utcnow


def test_the_wait_doubles_with_each_failure_up_to_a_cap():
    assert backoff_seconds(60, 0) == 60
    assert [backoff_seconds(60, n) for n in (1, 2, 3)] == [120, 240, 480]
    assert backoff_seconds(60, 40) == MAX_BACKOFF


def test_a_failing_source_backs_off_and_recovers_by_itself(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "store.db"}"\n\n'
        '[[sources]]\nname = "flaky"\nkind = "rss"\nurl = "http://127.0.0.1:9/feed"\ninterval = 60\n',
        encoding="utf-8",
    )
    config = cfg.load(path)
    source = config.source("flaky")
    engine = connect(config.storage_url)
    assert next_poll(source, sources.states(engine, ["flaky"]).get("flaky")) is None  # never polled: now

    for _ in range(3):
        sources.record_failure(engine, "flaky", "HTTP 503")
    state = sources.get(engine, "flaky")
    assert next_poll(source, state) - state.last_poll == timedelta(seconds=480)  # 60 s x 2**3
    assert not is_due(source, state, utcnow() + timedelta(seconds=470))
    assert is_due(source, state, utcnow() + timedelta(seconds=481))

    sources.record_success(engine, "flaky", None, None)
    state = sources.get(engine, "flaky")
    assert next_poll(source, state) - state.last_poll == timedelta(seconds=60)
    engine.dispose()
