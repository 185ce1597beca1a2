"""Downloader middlewares: each one job between the spider and the network."""

from __future__ import annotations

import asyncio
import random

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.error import DNSLookupError

from newswatch.storage import sources

from . import context
from .fetchguard import FetchPolicy, Target
from .resolver import AddressRefused, GuardedResolver


class FetchRefused(IgnoreRequest):
    """The address rules refuse this request; the message says why ("refused: ... is a loopback
    address"). It never reaches the network and is not retried."""


class FetchGuardMiddleware:
    """Refuses every request the address rules (``scrapers.fetchguard``) forbid, before it is sent.

    It is the first downloader middleware, and Scrapy's redirect and meta-refresh middlewares send
    each hop as a new request through every middleware again, so every hop of every request passes
    here with its scheme and port. A name is resolved here, through the reactor's resolver: the
    caching ``GuardedResolver`` the download handler uses too, so the address approved here is the
    address connected to, and that resolver checks it once more at connect time.
    """

    def __init__(self, policy: FetchPolicy):
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FetchGuardMiddleware:
        return cls(context.fetch_policy(crawler.settings["NEWSWATCH_CONFIG"]))

    async def process_request(self, request: Request) -> None:
        verdict = self.policy.check(request.url)
        if verdict.refusal is not None:
            raise FetchRefused(verdict.refusal)
        if verdict.resolve and verdict.target is not None:
            address = await self._address(verdict.target)
            if (refusal := self.policy.resolved(verdict.target, address)) is not None:
                raise FetchRefused(refusal)

    @staticmethod
    async def _address(target: Target) -> str:
        from twisted.internet import reactor  # the running one, with the crawl's resolver installed

        resolver = reactor.resolver
        lookup = resolver.lookup if isinstance(resolver, GuardedResolver) else resolver.getHostByName
        try:
            return await maybe_deferred_to_future(lookup(target.host))
        except AddressRefused as exc:
            return exc.address
        except DNSLookupError as exc:  # as the download handler reports it: retried, then the article fails
            raise CannotResolveHostError(str(exc)) from exc


class ConditionalGetMiddleware:
    """Adds If-None-Match / If-Modified-Since from the source's stored validators to index requests,
    so an unchanged feed costs a 304 and nothing else. The states of the crawl's sources are read once
    (not the whole table: a worker runs a crawl every second or so against thousands of sources)."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self._states: dict[str, sources.SourceState] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalGetMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        name = request.meta.get("conditional_get")
        if not name:
            return
        if self._states is None:
            engine = context.engine(self.crawler.settings["NEWSWATCH_STORAGE_URL"])
            self._states = sources.states(engine, [s.name for s in self.crawler.spider.sources])
        state = self._states.get(name)
        if state is None:
            return
        if state.etag:
            request.headers.setdefault("If-None-Match", state.etag)
        if state.last_modified:
            request.headers.setdefault("If-Modified-Since", state.last_modified)


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, but spaced out: 1 s, 2 s, 4 s ... (with jitter) instead of at once, which is
    what a struggling server needs."""

    base_delay = 1.0
    max_delay = 30.0

    async def _pause(self, retry: Request | Response | None) -> None:
        if isinstance(retry, Request):
            attempt = retry.meta.get("retry_times", 1)
            delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
            await asyncio.sleep(delay * random.uniform(0.75, 1.25))

    async def process_response(self, request: Request, response: Response):
        result = super().process_response(request, response)
        await self._pause(result)
        return result

    async def process_exception(self, request: Request, exception: Exception):
        result = super().process_exception(request, exception)
        await self._pause(result)
        return result
