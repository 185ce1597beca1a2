"""Which URLs a crawl may fetch: the address rules against server-side request forgery. Pure: no I/O.

A feed is written by a stranger, and every link in it is a request our host sends. Left alone, a
feed can make the crawler read the machine's own services (another loopback port, ``localhost``
spelled ``2130706433`` or ``0x7f000001``), the cloud metadata endpoint (169.254.169.254), anything
on the private network, or local files, and then store what it read as an article and alert it.

The rules (OWASP's SSRF guidance):

- only ``http`` and ``https``; no user info in the authority;
- the address must be public: loopback, private (RFC 1918, fc00::/7), link-local, shared CGNAT
  (100.64.0.0/10), multicast, unspecified, reserved and cloud metadata addresses are refused,
  whether written as a literal (in any numeric form), embedded in IPv6 (``::ffff:127.0.0.1``, 6to4,
  NAT64, Teredo) or reached through a name, checked after DNS resolution;
- except the exact origins (scheme, host, port) of the configured source URLs: the operator chose
  those. A link or redirect to the same host on another port is held to the rules, which is what
  lets tests serve feeds from 127.0.0.1 and still prove that a second loopback port is never fetched;
- ``[crawl] allow_private = true`` lets loopback, private, link-local and CGNAT addresses through
  (intranet article hosts); metadata, multicast, unspecified and reserved addresses stay refused.

Where they are enforced (``scrapers.middlewares.FetchGuardMiddleware`` on every request and every
redirect hop, ``scrapers.resolver.GuardedResolver`` on every name the downloader resolves) is said
in those modules.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
# inet_aton's legacy forms: 2130706433, 0x7f000001, 0177.0.0.1, 127.1 (each part decimal, octal or hex)
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$", re.I)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task credentials
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS over IPv6
    )
)


@dataclass(frozen=True)
class Target:
    """Where a request goes: what the downloader connects to, and the origin it is judged by."""

    scheme: str
    host: str  # lower case, no brackets, no trailing dot
    port: int

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Verdict:
    """What the rules say about a URL before any DNS lookup (refusals do not repeat the URL)."""

    target: Target | None
    refusal: str | None = None  # "refused: ..." when the request must not be sent
    resolve: bool = False  # the host is a name: its address decides (see ``FetchPolicy.resolved``)


def target_of(url: str) -> Target | str:
    """The target of an http(s) URL, or why it has none (the refusal's wording)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        return f"an unusable URL ({exc})"
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        return f"{scheme or 'a schemeless'}: links are not fetched (only http and https)"
    if "@" in parts.netloc:
        # Twisted and urllib disagree about where such a host ends; no news link needs credentials
        return "a link with user info is not fetched"
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "a link without a host"
    return Target(scheme, host, port if port is not None else DEFAULT_PORTS[scheme])


def literal_address(host: str) -> Address | None:
    """The address a host names without DNS: dotted, IPv6, and the numeric forms inet_aton reads."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))  # parses the text; no lookup
        except OSError:
            return None
    return None


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64, Teredo client), which is where
    packets for it end up."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.teredo is not None:
        return address.teredo[1]
    return None


def address_kind(address: Address, allow_private: bool = False) -> str | None:
    """Why ``address`` must not be fetched ("a loopback address"), or None when it may be."""
    if address in _METADATA:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        inner = address_kind(embedded, allow_private)
        return f"{embedded}, {inner}" if inner else None
    private_kind = (
        "a loopback address"
        if address.is_loopback
        else "a link-local address"
        if address.is_link_local
        else "a shared (CGNAT) address"
        if address in _CGNAT
        else None
    )
    if private_kind is None and address.is_reserved:
        return "a reserved address"
    if private_kind is None and (address.is_private or not address.is_global):
        private_kind = "a private address"
    return None if allow_private else private_kind


class FetchPolicy:
    """The rules for one configuration: its source origins and its ``allow_private``."""

    def __init__(self, source_urls: Iterable[str], allow_private: bool = False):
        targets = [t for t in map(target_of, source_urls) if isinstance(t, Target)]
        self.origins = frozenset(t.origin for t in targets)
        self.source_hosts = frozenset(t.host for t in targets)
        self.allow_private = allow_private

    def check(self, url: str) -> Verdict:
        target = target_of(url)
        if not isinstance(target, Target):
            return Verdict(None, f"refused: {target}")
        if target.origin in self.origins:
            return Verdict(target)
        host = target.host
        if host == "localhost" or host.endswith(".localhost"):
            if self.allow_private:
                return Verdict(target)
            return Verdict(target, f"refused: {target} is a loopback name")
        address = literal_address(host)
        if address is None:
            return Verdict(target, resolve=True)
        kind = address_kind(address, self.allow_private)
        if kind is None:
            return Verdict(target)
        shown = "" if ":" in host or str(address) == host else f"{address}, "  # 2130706433 is 127.0.0.1
        return Verdict(target, f"refused: {target} is {shown}{kind}")

    def trusts(self, host: str) -> bool:
        """A host of a configured source: what it resolves to is the operator's choice."""
        return host.rstrip(".").lower() in self.source_hosts

    def resolved(self, where: Target | str, address: str) -> str | None:
        """The refusal for a name (``where``: its target, or the bare name) that resolved to
        ``address``, or None when it may be fetched."""
        kind = address_kind(ipaddress.ip_address(address), self.allow_private)
        return f"refused: {where} resolves to {address}, {kind}" if kind else None
