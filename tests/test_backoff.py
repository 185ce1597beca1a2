"""A failing source is polled less and less often (exponential, capped), and normally again once it works."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from newswatch import config as cfg
from newswatch.dispatch import MAX_BACKOFF, backoff_seconds
from newswatch.service import Service
from newswatch.storage import sources


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

    async def scenario() -> None:
        service = Service(cfg.load(path))
        for _ in range(3):
            sources.record_failure(service.engine, "flaky", "HTTP 503")
        await service._crawled(["flaky"])
        wait = service.next_poll["flaky"] - time.monotonic()
        assert 470 < wait <= 480  # 60 s x 2**3
        assert not service._may_poll("flaky")

        sources.record_success(service.engine, "flaky", None, None)
        await service._crawled(["flaky"])
        assert service._may_poll("flaky")
        service.engine.dispose()

    asyncio.run(scenario())
