"""The DNS resolver of a crawl: Scrapy's caching resolver, refusing to hand out forbidden addresses.

This is the connect-time half of the address rules (``scrapers.fetchguard``). The download handler
(Twisted's ``HostnameEndpoint``) asks the reactor's resolver for every name it connects to, so this
is the one place that sees the address a connection really goes to. ``FetchGuardMiddleware`` checks
each request first and resolves names through this same resolver; answers are cached (Scrapy's
``dnscache``), so the address it approved is the one the download connects to, and each answer,
cached or not, is checked again here when handed out: a name that resolved to a public address and
then to 127.0.0.1 (DNS rebinding) is still refused. A resolver sees neither scheme nor port, and IP
literals never reach it: those are the middleware's. Names of configured sources are let through
here; the middleware holds their other ports to the rules.

The middleware looks names up with ``lookup`` and names a refusal in the article's failure; a
refusal at connect time (``getHostByName``) is logged here, since Twisted reports it only as "no
results for hostname lookup".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from scrapy.resolver import CachingThreadedResolver
from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError
from twisted.python.failure import Failure

from . import context
from .fetchguard import FetchPolicy

logger = logging.getLogger(__name__)


class AddressRefused(DNSLookupError):
    """A name resolved to an address the rules refuse; ``address`` is that address."""

    def __init__(self, message: str, address: str):
        super().__init__(message)
        self.address = address


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching IPv4 resolver, each answer checked against the crawl's address rules."""

    policy: FetchPolicy

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.policy = context.fetch_policy(crawler.settings["NEWSWATCH_CONFIG"])
        return resolver

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        """The download handler's lookup, for the connection itself."""
        return self.lookup(name, timeout).addErrback(self._log_refusal)

    def lookup(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        """The cached address of ``name``; AddressRefused when the rules refuse it."""
        return super().getHostByName(name, timeout).addCallback(self._checked, name)

    def _checked(self, address: str, name: str) -> str:
        if self.policy.trusts(name):
            return address
        refusal = self.policy.resolved(name, address)
        if refusal is not None:
            raise AddressRefused(refusal, address)
        return address

    @staticmethod
    def _log_refusal(failure: Failure) -> Failure:
        if failure.check(AddressRefused):
            logger.warning("%s (at connect time)", failure.value.args[0])
        return failure
