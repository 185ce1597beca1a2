"""Long-lived crawl worker processes (``scrapers.worker``), supervised from the service's event loop.

A crawl runs in a child process: Scrapy's reactor cannot be restarted in-process, extraction is
CPU-heavy and would stall the bot's event loop, and a child can be killed. Starting one costs about two
seconds of CPU, so a worker is kept and given batch after batch (gunicorn's model), several at once
(``[crawl] max_parallel_crawls`` spread over ``[crawl] workers`` processes), so a batch waiting on a
slow site does not hold up the others. A worker is replaced

- when its resident memory grows past ``[crawl] max_memory`` (sampled here with psutil, whatever the
  platform; the worker also caps its own address space well above that, as a backstop for growth
  faster than the sampling),
- when it does not answer a batch within ``[crawl] batch_timeout`` (hung),
- when it dies (a signal, the kernel's OOM killer, a crash),
- and, healthy, after ``[crawl] worker_max_crawls`` batches, or when its memory stays near the cap
  after a crawl, to return what it has accumulated: it takes no new batch, finishes its own, then its
  successor starts; waiting batches stay queued.

A worker that dies fails only the batches it was crawling; the caller (``polling``) records why.
Requests of different hosts are merged into one batch, up to ``BATCH_SOURCES`` sources, for up to
``GATHER`` seconds: a crawl of 60 sources costs little more than a crawl of one (Scrapy's set-up of a
crawl is about 70 ms of CPU). The service's loop only ever awaits pipes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import psutil

from .config import TOKEN_ENV, Config

log = logging.getLogger("newswatch")

BATCH_SOURCES = 60  # at most this many sources in one crawl (more when one host alone has more)
GATHER = 0.2  # seconds a batch waits for more requests to merge with
START_TIMEOUT = 120.0  # a worker not ready by then is killed
WATCH_INTERVAL = 0.25  # seconds between two memory samples of a worker
ADDRESS_SPACE_SLACK = 2 * 1024**3  # a worker at rest maps about 1.1 GB (thread stacks, libraries)
RETIRE_GRACE = 5.0
RECYCLE_AT = 0.8  # a worker whose memory stays above this share of the cap takes no new batch
KILLED = "crawl worker "  # how every reason below begins: such a source is polled alone next time


@dataclass(frozen=True)
class Outcome:
    """How a crawl went for the sources of one request: the worker's report, or why it died."""

    failed: dict[str, str] = field(default_factory=dict)  # source -> reason
    killed: str | None = None


class WorkerFailed(Exception):
    """The worker died or was killed; the message is the reason recorded on its sources."""


class CrawlWorker:
    """One ``python -m scrapers.worker`` process, its batches in flight and its watchdog."""

    def __init__(self, config: Config):
        self.config = config
        self.crawls = 0  # batches given to it
        self.rss = 0  # its resident memory at the last sample
        self.proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count()
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._killed: str | None = None  # why we killed it, when we did
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        limit = self.config.crawl.max_memory + ADDRESS_SPACE_SLACK
        # The crawl side never needs the bot token: it is not inherited (scrapers.context drops the
        # config file's copy too).
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "scrapers.worker",
            "--config",
            str(self.config.path),
            "--address-space",
            str(limit),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            limit=2**24,
        )
        self._tasks.append(asyncio.create_task(self._watch()))
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), START_TIMEOUT)
        except TimeoutError:
            self.kill(f"{KILLED}killed: not ready after {START_TIMEOUT:g} s")
            line = b""
        if not line:
            await self.proc.wait()
            raise WorkerFailed(self._killed or _death(self.proc.returncode))
        self._tasks.append(asyncio.create_task(self._read()))

    async def crawl(self, names: list[str]) -> dict[str, Any]:
        """The worker's report on one batch; WorkerFailed when it died or was killed meanwhile."""
        assert self.proc is not None and self.proc.stdin is not None
        self.crawls += 1
        number = next(self._ids)
        future = self._waiting[number] = asyncio.get_running_loop().create_future()
        try:
            self.proc.stdin.write(json.dumps({"id": number, "crawl": names}).encode() + b"\n")
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # it died: _read says how
        timeout = self.config.crawl.batch_timeout
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            self.kill(f"{KILLED}killed: no answer to a batch after {timeout:g} s")
            return await future
        except asyncio.CancelledError:  # nobody waits for this answer any more
            future.cancel()
            raise

    async def _read(self) -> None:
        """Answers to their batches; at the end of output, every batch in flight fails with the reason."""
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            message = json.loads(line)
            future = self._waiting.pop(message["id"], None)
            if future is not None and not future.done():
                future.set_result(message["done"])
        await self.proc.wait()
        reason = self._killed or _death(self.proc.returncode)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(WorkerFailed(reason))
        self._waiting.clear()

    @property
    def spent(self) -> bool:
        """Done its share: it takes no new batch, and is replaced once its own are done."""
        near_cap = self.rss > RECYCLE_AT * self.config.crawl.max_memory
        return near_cap or self.crawls >= self.config.crawl.worker_max_crawls

    def kill(self, reason: str) -> None:
        if self.alive:
            assert self.proc is not None
            self._killed = self._killed or reason
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    async def retire(self) -> None:
        """Stop it: the end of its input makes a worker exit at once."""
        if self.proc is not None and self.alive:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), RETIRE_GRACE)
            except TimeoutError:
                self.kill(f"{KILLED}retired")
                await self.proc.wait()
        for task in self._tasks:
            task.cancel()

    async def _watch(self) -> None:
        assert self.proc is not None
        cap = self.config.crawl.max_memory
        try:
            process = psutil.Process(self.proc.pid)
            while self.alive:
                self.rss = process.memory_info().rss
                if self.rss > cap:
                    self.kill(f"{KILLED}killed: memory over {cap // 2**20} MB ({self.rss // 2**20} MB)")
                    return
                await asyncio.sleep(WATCH_INTERVAL)
        except psutil.Error:  # it is gone
            return


def _death(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"{KILLED}killed by {signal.Signals(-returncode).name}"
    return f"{KILLED}exited with status {returncode}"


@dataclass
class _Request:
    names: list[str]
    alone: bool
    future: asyncio.Future[Outcome]


class WorkerPool:
    """``[crawl] workers`` processes taking batches from one queue; each request gets its outcome."""

    def __init__(self, config: Config, workers: int | None = None, batch_sources: int = BATCH_SOURCES):
        self.config = config
        self.size = workers or config.crawl.workers
        self.per_worker = math.ceil(config.crawl.max_parallel_crawls / self.size)
        self.batch_sources = batch_sources
        self.workers: list[CrawlWorker | None] = [None] * self.size
        self._pending: deque[_Request] = deque()
        self._arrived = asyncio.Event()
        self._taking = asyncio.Lock()  # one worker gathers a batch at a time
        self._loops: list[asyncio.Task[None]] = []
        self._crawls: set[asyncio.Task[None]] = set()

    @property
    def capacity(self) -> int:
        """Batches in flight at most, all workers together."""
        return self.size * self.per_worker

    def start(self) -> None:
        self._loops = [asyncio.create_task(self._serve(i)) for i in range(self.size)]

    async def crawl(self, names: list[str], alone: bool = False) -> Outcome:
        """Crawl ``names`` (merged with other requests into one batch unless ``alone``)."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(list(names), alone, future))
        self._arrived.set()
        return await future

    async def stop(self) -> None:
        for task in [*self._loops, *self._crawls]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._crawls, return_exceptions=True)
        await asyncio.gather(*(w.retire() for w in self.workers if w), return_exceptions=True)
        for request in self._pending:
            request.future.cancel()

    async def _serve(self, index: int) -> None:
        """Keep worker ``index`` running and busy, replacing it when it dies or has done its share."""
        delay = 1.0
        while True:
            while not self._pending:  # started when there is work: none for a service with no sources
                self._arrived.clear()
                await self._arrived.wait()
            worker = CrawlWorker(self.config)
            try:
                await worker.start()
            except (WorkerFailed, OSError) as exc:
                await worker.retire()
                log.error("crawl worker could not start (%s); next try in %.0f s", exc, delay)
                self._fail(await self._take(), f"{KILLED}could not start: {exc}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
                continue
            delay = 1.0
            self.workers[index] = worker
            mine: set[asyncio.Task[None]] = set()
            while worker.alive and not worker.spent:
                if len(mine) >= self.per_worker:
                    await asyncio.wait(mine, return_when=asyncio.FIRST_COMPLETED)
                    continue
                batch = await self._take()
                if not worker.alive:  # it died idle: the batch waits for its successor
                    self._pending.extendleft(reversed(batch))
                    break
                task = asyncio.create_task(self._run(worker, batch))
                for group in (mine, self._crawls):
                    group.add(task)
                    task.add_done_callback(group.discard)
            if mine:
                await asyncio.wait(mine)  # recycled: its own batches finish first
            await worker.retire()
            self.workers[index] = None

    async def _take(self) -> list[_Request]:
        """The oldest request, and those that fit in its batch within ``GATHER`` (never a lone one)."""
        async with self._taking:
            while not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
            batch = [self._pending.popleft()]
            if batch[0].alone:
                return batch
            size = len(batch[0].names)
            deadline = time.monotonic() + GATHER
            while size < self.batch_sources:
                if self._pending and not self._pending[0].alone:
                    if size + len(self._pending[0].names) > self.batch_sources:
                        break
                    batch.append(self._pending.popleft())
                    size += len(batch[-1].names)
                    continue
                left = deadline - time.monotonic()
                if left <= 0 or self._pending:  # out of time, or a lone request is next
                    break
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), left)
            return batch

    async def _run(self, worker: CrawlWorker, batch: list[_Request]) -> None:
        names = [name for request in batch for name in request.names]
        started = time.monotonic()
        try:
            report = await worker.crawl(names)
        except WorkerFailed as exc:
            log.error("crawl of %s: %s", _short(names), exc)
            self._fail(batch, str(exc))
            return
        except BaseException:
            self._fail(batch, f"{KILLED}stopped")
            raise
        failed: dict[str, str] = report.get("failed", {})
        level = logging.INFO if report.get("new") or failed else logging.DEBUG
        log.log(
            level,
            "crawl %s: %d new, %d known, %d failed (%.1f s, worker %s)",
            _short(names),
            report.get("new", 0),
            report.get("known", 0),
            len(failed),
            time.monotonic() - started,
            worker.pid,
        )
        for request in batch:
            if not request.future.done():
                mine = {n: failed[n] for n in request.names if n in failed}
                request.future.set_result(Outcome(mine))

    @staticmethod
    def _fail(batch: list[_Request], reason: str) -> None:
        for request in batch:
            if not request.future.done():
                request.future.set_result(Outcome(dict.fromkeys(request.names, reason), killed=reason))


def _short(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 4 else f"{', '.join(names[:3])} and {len(names) - 3} more"
