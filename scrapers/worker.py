"""A long-lived crawl worker: ``python -m scrapers.worker --config PATH``.

Starting Scrapy, the detector and the store costs about two seconds of CPU; a worker pays it once and
then runs crawl after crawl on the one reactor it keeps for its lifetime (a Twisted reactor cannot
be restarted, so each crawl gets a new ``Crawler`` on the same ``AsyncCrawlerRunner``).

It speaks JSON lines with its supervisor (``newswatch.workers``) over its standard input and a private
copy of its standard output (file descriptor 1 itself is pointed at stderr, so a stray ``print`` from
a library cannot corrupt the protocol):

- the worker says ``{"ready": PID}`` once everything is loaded;
- the supervisor sends ``{"id": N, "crawl": [SOURCE, ...]}``; the worker starts a crawl of those
  sources (their poll states are recorded in the store by ``SourceStatePipeline``, as for
  ``newswatch crawl``) and, when it ends, answers
  ``{"id": N, "done": {"new": N, "known": N, "failed": {SOURCE: REASON}}}``. Several crawls may run at
  once on the one reactor: the supervisor decides how many.

The end of its input means the supervisor is gone or retires it: the worker exits at once, even in
the middle of a crawl, so an orphan never keeps polling sources that another worker now owns.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
import warnings
from typing import IO, Any

from scrapy.utils.reactor import install_reactor

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

log = logging.getLogger("newswatch.worker")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scrapers.worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, metavar="PATH")
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--address-space", type=int, metavar="BYTES", help="cap on virtual memory")
    args = parser.parse_args(argv)
    if args.address_space:
        _limit_address_space(args.address_space)
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    install_reactor(ASYNCIO_REACTOR)
    from scrapy.utils.defer import deferred_from_coro
    from twisted.internet.task import react

    react(lambda _reactor: deferred_from_coro(serve(args.config, args.log_level.upper(), protocol)))


async def serve(path: str, log_level: str, out: IO[str]) -> None:
    from scrapy.crawler import AsyncCrawlerRunner
    from scrapy.utils.log import configure_logging

    from . import context
    from .runner import CrawlReport, batch_spider, crawl_settings, install_resolver, report

    with warnings.catch_warnings():  # the service has shown them already
        warnings.simplefilter("ignore")
        config = context.load_config(path)
    settings = crawl_settings(config, log_level)
    configure_logging(settings)
    logging.getLogger("scrapy").setLevel(log_level)
    context.detector(path)  # loaded now, so the first crawl does not pay for it
    context.engine(config.storage_url)
    runner = AsyncCrawlerRunner(settings)
    install_resolver(runner)
    requests, _reading = await _requests()
    gc.freeze()  # what start-up made lives as long as the process: keep it out of every collection
    _send(out, {"ready": os.getpid()})
    crawls: set[asyncio.Future[None]] = set()

    async def crawl(number: int, names: list[str]) -> None:
        crawler = runner.create_crawler(batch_spider(config, names))
        try:
            await runner.crawl(crawler)
            result = report(crawler, names)
        except Exception as exc:  # a crawl that cannot start fails its sources, not the worker
            log.exception("crawl of %s failed", ", ".join(names))
            result = CrawlReport(failed=dict.fromkeys(names, f"crawl failed: {type(exc).__name__}: {exc}"))
        del crawler
        gc.collect()
        _send(out, {"id": number, "done": result.as_dict()})

    while True:
        request = await requests.get()
        task = asyncio.ensure_future(crawl(request["id"], request["crawl"]))
        crawls.add(task)
        task.add_done_callback(crawls.discard)


async def _requests() -> tuple[asyncio.Queue[dict[str, Any]], asyncio.Future[None]]:
    """Requests from the supervisor as they arrive; the end of input ends the process at once."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def read() -> None:
        while line := await reader.readline():
            queue.put_nowait(json.loads(line))
        os._exit(0)

    return queue, asyncio.ensure_future(read())


def _limit_address_space(limit: int) -> None:
    """A backstop for the supervisor's memory watchdog, which samples: growth faster than its samples
    ends in MemoryError here instead of exhausting the machine."""
    try:
        import resource
    except ImportError:  # not on this platform: the watchdog alone
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _send(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
