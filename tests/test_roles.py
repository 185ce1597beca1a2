"""``newswatch run --role``: which roles a process runs, and what each one refuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("role", ["scheduler", "crawler"])
def test_the_scaled_out_roles_refuse_a_store_that_is_not_postgresql(tmp_path: Path, role: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "store.db"}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    result = subprocess.run(
        [sys.executable, "-m", "newswatch", "--config", str(config), "run", "--role", role],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {config}: storage.url: the scheduler and crawler roles share a PostgreSQL store (got sqlite)"
    ]
    assert not (tmp_path / "store.db").exists()  # refused before opening anything
