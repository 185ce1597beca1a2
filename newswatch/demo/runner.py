"""``newswatch demo``: the whole service, offline, on a local news site, in about half a minute.

It starts the bundled news site (``site``) with the script's history on it (``script``), writes a
throw-away config and SQLite store in a temporary directory pointing at it, and runs the real
service in this process: the scheduler, a crawl worker running Scrapy and feedparser, the detector,
the story grouping, the store, the outbox and the console sender (no bot token), plus the web side on
a free loopback port. Then it publishes the script's steps one by one, waits for each outcome where
the service records it (``observe``), and says whether it is what the script expects. The alerts
printed are the console sender's own output: nothing here formats an alert.

Why in-process rather than a ``newswatch run`` child: the service's own signal handling gives Ctrl-C
a clean shutdown with nothing to relay, the demo reads the store through the service's engine, and
one process fewer is a second less before the first poll. The crawl workers are subprocesses either
way, exactly as in ``newswatch run``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from .. import config as cfg
from ..service import Service
from . import observe
from .script import Script, Stage, Step, load
from .site import NewsSite

POLL_INTERVAL = 2  # seconds: the demo's sources are polled this often (a real source: minutes)
FIRST_ROUND_TIMEOUT = 60.0
STEP_TIMEOUT = 25.0
SETTLE = 2.5  # seconds a silent step is watched after it is stored: two delivery runs
PAUSE = 2.5  # between one outcome and the next step, so that a reader can follow
LOOK_EVERY = 0.2
# The environment must not point the demo anywhere real: no bot token (alerts would go to real
# chats), no store or listen address of a real installation (the crawl workers inherit it too).
FOREIGN_ENV = (cfg.TOKEN_ENV, cfg.CONFIG_ENV, *cfg.ENV_OVERRIDES)
EXPECTED = {
    "alert": "one alert",
    "edit": "no second alert: the alert above is edited (Also reported by ...)",
    "silent": "no alert",
    "lift": "one alert, framed as a lift that names the earlier story",
}

log = logging.getLogger("newswatch.demo")


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM), or the service stopped on its own, while the demo was waiting."""


def main(keep: Path | None = None) -> int:
    """Run the demo; 0 when every step came out as the script says (or on Ctrl-C), 1 otherwise.
    Everything it writes is in one directory: a temporary one, removed at the end, or ``keep``.
    It prints on standard output, where the console sender prints the alerts."""
    out = sys.stdout
    if isinstance(out, io.TextIOWrapper):  # a terminal that cannot show Chinese gets "?", not a crash
        out.reconfigure(errors="replace")
    for name in FOREIGN_ENV:
        if os.environ.pop(name, None) and name == cfg.TOKEN_ENV:
            print(f"note: {name} is ignored: the demo never sends to Telegram", file=out)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    script = load()
    workdir = keep or Path(tempfile.mkdtemp(prefix="newswatch-demo-"))
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        with NewsSite() as site:
            stage = Stage(site, script)
            for item in script.history:
                stage.publish(item)
            config = write_config(workdir, site, script, free_port())
            return asyncio.run(Demo(config, stage, out, kept=keep is not None).main())
    except KeyboardInterrupt:  # before the service took over Ctrl-C, or after it let go
        print("\ninterrupted", file=out, flush=True)
        return 0
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


def free_port() -> int:
    """A loopback port free right now, for the web side."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(workdir: Path, site: NewsSite, script: Script, web_port: int) -> cfg.Config:
    """The demo's config file in ``workdir``, loaded: its store beside it, its sources on ``site``."""
    lines = [
        "# Written by `newswatch demo`: its sources are on a local news site that exists while it runs.",
        "[storage]",
        'url = "sqlite:///newswatch.db"          # beside this file',
        "",
        "[crawl]",
        # The site's origin is allowed as a configured source's; no other private address is.
        "allow_private = false",
        'timeout = "5s"',
        "retries = 0",
        "",
        "[alerts]",
        'delivery_interval = "1s"',
        "",
        "[web]",
        f'listen = "127.0.0.1:{web_port}"',
    ]
    for source in script.sources:
        lines += [
            "",
            "[[sources]]",
            f'name = "{source.name}"',
            f'kind = "{source.kind}"',
            f'url = "{source.url(site)}"',
            f"interval = {POLL_INTERVAL}  # a local site: never this often for a real one",
            f'lang = "{source.lang}"',
        ]
    path = workdir / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with warnings.catch_warnings():  # "2 s is impolite to real sites": these are not real sites
        warnings.simplefilter("ignore")
        return cfg.load(path)


class Demo:
    """The service and the script, side by side on one event loop."""

    def __init__(self, config: cfg.Config, stage: Stage, out: TextIO, kept: bool = False):
        self.config = config
        self.kept = kept  # the config and store stay after the demo
        self.stage = stage
        self.out = out
        self.service: Service | None = None
        self.service_task: asyncio.Task[int] | None = None
        self.started = time.monotonic()

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    async def main(self) -> int:
        self.started = time.monotonic()
        self.service = Service(self.config)
        self.service_task = asyncio.create_task(self.service.main())
        status = 1
        try:
            status = 0 if await self.play() else 1
        except Interrupted:
            if self.service.stopping.is_set():  # Ctrl-C or SIGTERM, through the service's handlers
                self.say("\ninterrupted: stopping cleanly")
                status = 0
            else:
                self.say("\nthe service stopped by itself: see the log above")
        finally:
            self.service.stopping.set()
            try:
                service_status = await self.service_task
            except Exception:
                log.exception("the service stopped on an unexpected error")
                service_status = 1
        return status or (1 if service_status else 0)

    async def play(self) -> bool:
        """The script, step by step; True when every outcome was the expected one."""
        site = self.stage.site
        web = self.config.web.address
        self.say("newswatch demo: the whole pipeline, offline, on a local news site (Ctrl-C stops it)")
        self.say(f"  news site     {site.base_url}/  (ITHome-shaped pages and RSS, an English feed)")
        self.say("  the news      real events, replayed as today's (texts written for the demo)")
        self.say(f"  config, store {self.config.path.parent}")
        if web:
            self.say(f"  tracker page  http://{web[0]}:{web[1]}/  (while the demo runs)")
        self.say("  alerts        printed here as Telegram would show them (no bot token: the console)")
        self.say()
        history = len(self.stage.script.history)
        self.say(f"[0] first round of polls: the {history} articles already on the site are history")
        assert self.service is not None
        engine = self.service.engine
        if not await self.wait(lambda: observe.alerts_started(engine), FIRST_ROUND_TIMEOUT):
            self.say(f"    NOT AS EXPECTED: the first round took over {FIRST_ROUND_TIMEOUT:g} s")
            return False
        stored = await asyncio.to_thread(observe.article_count, engine)
        self.say(f"    stored {stored} articles, no alert; alerts start now ({self.elapsed()})")
        alerted: str | None = None  # the story of the last alert
        earlier: set[str] = set()  # the stories of the steps before
        results = []
        steps = self.stage.script.steps
        for number, step in enumerate(steps, 1):
            article = self.stage.publish(step)
            self.say(f"\n[{number}/{len(steps)}] {step.source} publishes {step.caption}:")
            self.say(f"    {step.title}")
            self.say(f"    expected: {EXPECTED[step.expect]}")
            ok, seen, why = await self.outcome(step, article.canonical, alerted, earlier)
            results.append(ok)
            self.say(f"    {'as expected' if ok else 'NOT AS EXPECTED'}: {why} ({self.elapsed()})")
            if seen.alerts and step.expect in ("alert", "lift"):
                alerted = seen.story_id
            if seen.story_id:
                earlier.add(seen.story_id)
            await asyncio.sleep(PAUSE)
        good = sum(results)
        self.say(f"\ndone in {self.elapsed()}: {good} of {len(steps)} steps as the script expects")
        if self.kept:
            self.say(f"kept in {self.config.path.parent}: newswatch --config {self.config.path} tracker")
        else:
            self.say("the temporary config and store are removed (--keep DIR keeps them)")
        return good == len(steps)

    async def outcome(
        self, step: Step, canonical: str, alerted: str | None, earlier: set[str]
    ) -> tuple[bool, observe.Seen, str]:
        """Wait for what became of a step's article; (as expected, what was seen, in words).
        ``alerted``: the story of the last alert; ``earlier``: the stories of the steps before."""
        engine = self.service.engine if self.service else None
        assert engine is not None

        async def look() -> observe.Seen:
            return await asyncio.to_thread(observe.seen, engine, canonical)

        def stored(seen: observe.Seen) -> bool:
            return seen.story_id is not None

        def done(seen: observe.Seen) -> bool:
            if seen.story_id == alerted:  # joined the alerted story: done once its alert is edited
                return step.expect != "edit" or seen.edited
            return seen.alerts > 0

        seen = await self.wait_seen(look, stored, STEP_TIMEOUT)
        if seen is None:
            return False, observe.Seen(), f"not stored within {STEP_TIMEOUT:g} s"
        if step.expect == "silent":
            await self.sleep(SETTLE)
            seen = await look()
            if seen.alerts:
                return False, seen, "it was alerted"
            kind = "on-topic but told already" if seen.relevant else "not on-topic"
            return True, seen, f"stored, {kind}: no alert"
        seen = await self.wait_seen(look, done, STEP_TIMEOUT) or await look()
        if step.expect == "edit":
            if seen.story_id != alerted:
                return False, seen, "it started a story of its own" + (" and was alerted" * bool(seen.alerts))
            if not seen.edited:
                return False, seen, "it joined the story, but the alert was not edited"
            return True, seen, f"it joined the story; the alert now shows {seen.article_count} reports"
        if seen.story_id in earlier:
            return False, seen, f"it joined the story of an earlier step ({seen.story_id})"
        if not seen.alerts:
            return False, seen, f"no alert within {STEP_TIMEOUT:g} s"
        if step.expect == "lift" and (seen.change != "lifted" or seen.parent_id is None):
            return False, seen, f"alerted, but as {seen.change or 'a new event'}, not a lift"
        what = f"the lift of story {seen.parent_id}" if step.expect == "lift" else "a new story"
        return True, seen, f"alerted once, {what} ({seen.story_id})"

    async def wait_seen(
        self,
        look: Callable[[], Awaitable[observe.Seen]],
        until: Callable[[observe.Seen], bool],
        timeout: float,
    ) -> observe.Seen | None:
        """Look until ``until`` holds; None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            seen = await look()
            if until(seen):
                return seen
            if time.monotonic() >= deadline:
                return None
            await self.sleep(LOOK_EVERY)

    async def wait(self, check: Callable[[], bool], timeout: float) -> bool:
        """Look until ``check`` holds (True); False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(check):
            if time.monotonic() >= deadline:
                return False
            await self.sleep(LOOK_EVERY)
        return True

    async def sleep(self, seconds: float) -> None:
        """Sleep, unless the service is stopping (Ctrl-C) or stopped: then Interrupted."""
        assert self.service is not None and self.service_task is not None
        stopping = asyncio.ensure_future(self.service.stopping.wait())
        try:
            await asyncio.wait([stopping, self.service_task], timeout=seconds, return_when="FIRST_COMPLETED")
        finally:
            stopping.cancel()
        if self.service.stopping.is_set() or self.service_task.done():
            raise Interrupted

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.1f} s"
