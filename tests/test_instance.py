"""One service per store: a second one is refused, a dead one's lease is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from newswatch.storage.instance import InstanceLease

ROOT = Path(__file__).resolve().parent.parent


def test_a_second_instance_is_refused_while_the_first_renews(store: Engine) -> None:
    first, second = InstanceLease(store), InstanceLease(store)
    assert first.acquire() is None
    holder = second.acquire()
    assert holder is not None and holder.pid == os.getpid()
    assert first.renew()
    first.release()
    assert second.acquire() is None
    assert not first.renew()  # it was taken over: the first must stop


def test_a_lease_not_renewed_within_the_ttl_expires(store: Engine) -> None:
    first, second = (
        InstanceLease(store, ttl=timedelta(seconds=0.2)),
        InstanceLease(store, ttl=timedelta(seconds=0.2)),
    )
    assert first.acquire() is None
    time.sleep(0.3)
    assert second.acquire() is None


def test_the_lease_of_a_dead_process_on_this_host_is_taken_at_once(store: Engine) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    crashed = InstanceLease(store)
    object.__setattr__(crashed.me, "pid", int(dead.stdout))  # as if that process had held it
    assert crashed.acquire() is None
    assert InstanceLease(store).acquire() is None


def test_newswatch_run_refuses_to_share_a_store(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "store.db"}"\n\n[web]\nlisten = ""\n', encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    command = [sys.executable, "-m", "newswatch", "--config", str(config), "run"]
    first = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        line = ""
        while "newswatch running" not in line and time.monotonic() < deadline:
            line = first.stderr.readline()
        assert "newswatch running" in line
        second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert "another newswatch is running on this store" in second.stderr
        assert first.poll() is None  # the first one is untouched
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(10) == 0
