"""Running due sources' polls outside the service's event loop.

Polls run ``newswatch crawl`` in a subprocess: a Twisted reactor cannot be restarted in-process, and
extraction is CPU-heavy, so a separate process keeps the bot's event loop responsive, returns its
memory when done, and can be killed if it hangs. Sources that are due together share one subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time

from .config import Config

log = logging.getLogger("newswatch")

MAX_BACKOFF = 3600.0  # a failing source is retried at most this far apart
CRAWL_TIMEOUT = 600.0  # a crawl subprocess running longer is killed


def backoff_seconds(interval: float, failures: int) -> float:
    """Exponential, capped: a source failing n times in a row waits interval * 2**n (at most 1 h)."""
    if failures <= 0:
        return interval
    return min(MAX_BACKOFF, interval * 2 ** min(failures, 16))


class CrawlDispatcher:
    """Runs due sources in ``newswatch crawl`` subprocesses, batching those that are due together."""

    def __init__(self, config: Config, on_done, parallel: int, may_poll=lambda name: True):
        self.config = config
        self.on_done = on_done
        self.may_poll = may_poll  # False while a source backs off
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.queued: set[str] = set()
        self.crawling: set[str] = set()  # sources in a crawl right now
        self.again: set[str] = set()  # sources that came due while crawling: polled right after
        self.running: set[asyncio.subprocess.Process] = set()
        self.parallel = parallel
        self.workers: list[asyncio.Task] = []

    def start(self) -> None:
        self.workers = [asyncio.create_task(self._worker()) for _ in range(self.parallel)]

    def submit(self, name: str) -> None:
        if name in self.crawling:  # one crawl per source at a time: poll again when this one ends
            self.again.add(name)
        elif name not in self.queued:  # one pending poll per source: coalesce
            self.queued.add(name)
            self.queue.put_nowait(name)

    async def _worker(self) -> None:
        while True:
            names = [await self.queue.get()]
            while not self.queue.empty() and len(names) < 25:
                names.append(self.queue.get_nowait())
            self.queued.difference_update(names)
            self.crawling.update(names)
            try:
                await self.crawl(names)
                await self.on_done(names)
            except Exception:  # a worker that dies stops every poll: log and carry on
                log.exception("crawl of %s failed", ", ".join(names))
            finally:
                self.crawling.difference_update(names)
            for name in names:
                if name in self.again:
                    self.again.discard(name)
                    if self.may_poll(name):
                        self.submit(name)

    async def crawl(self, names: list[str]) -> None:
        cmd = [
            sys.executable,
            "-m",
            "newswatch",
            "--config",
            str(self.config.path),
            "crawl",
            "--quiet",
            *names,
        ]
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        self.running.add(proc)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), CRAWL_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            log.error("crawl of %s killed after %.0f s", ", ".join(names), CRAWL_TIMEOUT)
            return
        finally:
            self.running.discard(proc)
        summary = out.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        level = logging.INFO if proc.returncode == 0 else logging.WARNING
        log.log(level, "crawl %s: %s (%.1f s)", ",".join(names), summary[0], time.monotonic() - started)
        if proc.returncode not in (0, 1) and err.strip():  # 1 is "a source failed", already reported
            log.error("crawl exited with %s: %s", proc.returncode, err.decode(errors="replace")[-500:])

    async def stop(self) -> None:
        for worker in self.workers:
            worker.cancel()
        for proc in list(self.running):
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in list(self.running):
            try:
                await asyncio.wait_for(proc.wait(), 3)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
