"""``newswatch demo`` end to end: the real command, its real pipeline, judged by what it prints.

Why: the demo is the first thing a new user runs. It must show one alert for the story and its edit
when a second outlet reports it, stay silent on the look-alike, show the lift, end by itself with
status 0 within a minute (or at Ctrl-C, cleanly), and leave nothing behind but what ``--keep`` asks
to keep. The command runs as a subprocess, as a user runs it; its temporary directory is made under
a ``TMPDIR`` of the test's own, so that what it leaves behind can be seen.
"""

from __future__ import annotations

import fnmatch
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from newswatch.demo.script import load
from newswatch.storage import connect, schema

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = load()
RESTRICTION, REPORTED_AGAIN, LOOK_ALIKE, LIFT = SCRIPT.steps
HEADING = re.compile(r"^=== (ALERT|ALERT EDITED) === #(\d+)$", re.M)


def environment(tmp_path: Path) -> dict[str, str]:
    """The caller's environment without NEWSWATCH_* (a token or a store of a real installation), with
    a TMPDIR of the test's own."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    return {**env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp)}


def demo(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "newswatch", "demo", *args],
        cwd=cwd,
        env={**environment(tmp_path), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, time.monotonic() - started


def messages(out: str) -> list[tuple[str, int, str]]:
    """(ALERT or ALERT EDITED, message number, text) for each message the console sender printed."""
    found = []
    marks = list(HEADING.finditer(out))
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        text = out[mark.end() : following.start() if following else len(out)]
        found.append((mark[1], int(mark[2]), text.lstrip("\n").split("\n\n", 1)[0]))  # not the narration
    return found


def test_the_demo_alerts_edits_stays_silent_lifts_and_leaves_nothing_behind(tmp_path: Path) -> None:
    real = tmp_path / "real"  # a real installation's settings in the environment: never used
    real_env = {
        "NEWSWATCH_TELEGRAM_TOKEN": "123456:REAL-TOKEN",
        "NEWSWATCH_STORAGE_URL": f"sqlite:///{real / 'newswatch.db'}",
        "NEWSWATCH_CONFIG": str(real / "config.toml"),
    }
    done, seconds = demo(tmp_path, env=real_env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert seconds < 60
    sent = messages(done.stdout)
    alerts = [text for kind, _, text in sent if kind == "ALERT"]
    edits = [(number, text) for kind, number, text in sent if kind == "ALERT EDITED"]
    # one alert for the story, then its edit naming the second outlet; none for the look-alike
    assert [a for a in alerts if RESTRICTION.title in a] == alerts[:1]
    assert len(edits) == 1
    number, edited = edits[0]
    assert sent[0][:2] == ("ALERT", number) and RESTRICTION.title in edited
    assert "Also reported by globalwire" in edited and "Also reported by" not in alerts[0]
    assert all(LOOK_ALIKE.title not in text for _, _, text in sent)
    # the lift: an alert of its own, framed as one, naming the suspension it lifts (history, never alerted)
    assert len(alerts) == 2
    assert alerts[1].startswith(f"✅ Lifted\n✅ {LIFT.title}")
    assert f"Earlier: {SCRIPT.history[1].title}" in alerts[1]
    assert done.stdout.count("as expected:") == 4 and "NOT AS EXPECTED" not in done.stdout
    assert re.search(r"tracker page +http://127\.0\.0\.1:\d+/", done.stdout)
    assert "Traceback" not in done.stderr
    assert "NEWSWATCH_TELEGRAM_TOKEN is ignored" in done.stdout and not real.exists()
    # nothing left behind: its temporary directory is gone, and it wrote nothing where it ran
    assert list((tmp_path / "tmp").iterdir()) == []
    assert list((tmp_path / "cwd").iterdir()) == []


def test_keep_keeps_the_config_and_the_store_and_refuses_a_directory_in_use(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    done, _ = demo(tmp_path, "--keep", str(kept))

    assert done.returncode == 0, done.stdout + done.stderr
    assert {p.name for p in kept.iterdir()} >= {"config.toml", "newswatch.db"}
    assert f"kept in {kept}" in done.stdout
    engine = connect(f"sqlite:///{kept / 'newswatch.db'}")
    try:
        with engine.connect() as conn:
            titles = set(conn.execute(select(schema.stories.c.title)).scalars())
    finally:
        engine.dispose()
    assert {RESTRICTION.title, LOOK_ALIKE.title, LIFT.title} <= titles
    assert list((tmp_path / "tmp").iterdir()) == []

    again, _ = demo(tmp_path, "--keep", str(kept))
    assert again.returncode == 2 and "must be a new or empty directory" in again.stderr


def test_ctrl_c_stops_the_demo_cleanly_with_status_0(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole foreground process group: the demo and its crawl worker."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "newswatch", "demo"],
        cwd=cwd,
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while "as expected: alerted once" not in "".join(lines):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        url = re.search(r"tracker page +(http://\S+)", "".join(lines))
        assert url is not None
        with urllib.request.urlopen(url[1], timeout=10) as page:  # the tracker shows the new story
            assert page.status == 200 and RESTRICTION.title in page.read().decode("utf-8")

        os.killpg(proc.pid, signal.SIGINT)
        status = proc.wait(15)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    reader.join(5)
    stderr = proc.stderr.read() if proc.stderr else ""
    assert status == 0, "".join(lines) + stderr
    assert "interrupted: stopping cleanly" in "".join(lines)
    assert "Traceback" not in stderr
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_script_refuses_what_it_cannot_play() -> None:
    source = '[[sources]]\nname = "a"\nkind = "rss"\nlang = "en"\nfeed = "a"\n'
    step = '[[steps]]\nsource = "{}"\nexpect = "{}"\ntitle = "t"\nparagraphs = ["p"]\n'
    assert load(source + step.format("a", "alert")).steps[0].expect == "alert"
    for bad, problem in (
        (step.format("b", "alert"), "unknown source"),
        (step.format("a", "shout"), "is not one of"),
        (step.format("a", "edit"), "an edit needs an alert before it"),
    ):
        with pytest.raises(ValueError, match=problem):
            load(source + bad)


def test_the_demo_data_ships_in_the_package() -> None:
    """A non-editable install has only what package-data names: every data file of the demo."""
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package = ROOT / "newswatch"
    data = [p for p in (package / "demo").iterdir() if p.is_file() and p.suffix != ".py"]
    assert data
    for path in data:
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, glob) for glob in globs["newswatch"]), relative
