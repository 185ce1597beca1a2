"""The address rules (scrapers.fetchguard), and the resolver that enforces them at connect time.

The crawl-level proof (a second loopback server that never sees a request) is in test_hostile.py;
here every spelling of a forbidden address is checked on its own.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scrapers.fetchguard import FetchPolicy

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "http://127.0.0.1:8080/feed.xml"


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("http://127.0.0.1:8081/", "127.0.0.1:8081 is a loopback address"),
        ("http://127.8.9.10/", "127.8.9.10:80 is a loopback address"),
        ("http://2130706433:8081/", "2130706433:8081 is 127.0.0.1, a loopback address"),
        ("http://0x7f000001/", "0x7f000001:80 is 127.0.0.1, a loopback address"),
        ("http://0177.0.0.1/", "0177.0.0.1:80 is 127.0.0.1, a loopback address"),
        ("http://0x7f.1/", "0x7f.1:80 is 127.0.0.1, a loopback address"),
        ("http://127.0.0.1./", "127.0.0.1:80 is a loopback address"),
        ("http://LOCALHOST:8081/", "localhost:8081 is a loopback name"),
        ("http://localhost./", "localhost:80 is a loopback name"),
        ("http://admin.localhost/", "admin.localhost:80 is a loopback name"),
        ("http://[::1]:8081/", "[::1]:8081 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "[::ffff:127.0.0.1]:80 is 127.0.0.1, a loopback address"),
        ("http://[2002:7f00:1::]/", "[2002:7f00:1::]:80 is 127.0.0.1, a loopback address"),  # 6to4
        ("http://[64:ff9b::a00:5]/", "[64:ff9b::a00:5]:80 is 10.0.0.5, a private address"),  # NAT64
        ("http://169.254.169.254/latest/", "169.254.169.254:80 is a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "[fd00:ec2::254]:80 is a cloud metadata address"),
        ("http://100.100.100.200/", "100.100.100.200:80 is a cloud metadata address"),
        ("http://169.254.1.1/", "169.254.1.1:80 is a link-local address"),
        ("http://[fe80::1]/", "[fe80::1]:80 is a link-local address"),
        ("http://10.1.2.3/", "10.1.2.3:80 is a private address"),
        ("http://172.16.0.1/", "172.16.0.1:80 is a private address"),
        ("https://192.168.1.1/", "192.168.1.1:443 is a private address"),
        ("http://[fc00::1]/", "[fc00::1]:80 is a private address"),
        ("http://100.64.0.1/", "100.64.0.1:80 is a shared (CGNAT) address"),
        ("http://224.0.0.1/", "224.0.0.1:80 is a multicast address"),
        ("http://[ff02::1]/", "[ff02::1]:80 is a multicast address"),
        ("http://0.0.0.0/", "0.0.0.0:80 is an unspecified address"),
        ("http://0/", "0:80 is 0.0.0.0, an unspecified address"),
        ("http://240.0.0.1/", "240.0.0.1:80 is a reserved address"),
        ("http://192.0.2.1/", "192.0.2.1:80 is a private address"),  # documentation: never a news site
        ("file:///etc/passwd", "file: links are not fetched (only http and https)"),
        ("ftp://example.com/", "ftp: links are not fetched (only http and https)"),
        ("data:text/html,hello", "data: links are not fetched (only http and https)"),
        ("s3://bucket/key", "s3: links are not fetched (only http and https)"),
        ("javascript:alert(1)", "javascript: links are not fetched (only http and https)"),
        ("//news.example/a", "a schemeless: links are not fetched (only http and https)"),
        ("http://news.example@127.0.0.1/", "a link with user info is not fetched"),
        ("http://news.example:99999/", "an unusable URL (Port out of range 0-65535)"),
        ("http:///path", "a link without a host"),
    ],
)
def test_every_spelling_of_a_forbidden_address_is_refused(url, refusal):
    verdict = FetchPolicy([SOURCE]).check(url)

    assert verdict.refusal is not None and verdict.refusal.startswith(f"refused: {refusal}")
    assert not verdict.resolve


@pytest.mark.parametrize("url", ["https://8.8.8.8/", "http://[2606:4700::1111]:8080/", "http://1.1.1.1/"])
def test_public_addresses_are_fetched(url):
    verdict = FetchPolicy([SOURCE]).check(url)

    assert (verdict.refusal, verdict.resolve) == (None, False)


def test_a_name_is_decided_by_what_it_resolves_to():
    policy = FetchPolicy([SOURCE])
    verdict = policy.check("https://News.Example./a")

    assert (verdict.refusal, verdict.resolve, str(verdict.target)) == (None, True, "news.example:443")
    assert verdict.target is not None
    assert policy.resolved(verdict.target, "93.184.216.34") is None
    assert (
        policy.resolved(verdict.target, "10.0.0.7")
        == "refused: news.example:443 resolves to 10.0.0.7, a private address"
    )
    assert policy.resolved("news.example", "127.0.0.1") == (
        "refused: news.example resolves to 127.0.0.1, a loopback address"
    )


def test_only_the_exact_origin_of_a_configured_source_is_excepted():
    policy = FetchPolicy([SOURCE, "https://localhost/feed", "http://intranet.example:8000/rss"])

    assert policy.check("http://127.0.0.1:8080/news/1.html").refusal is None
    assert policy.check("http://127.0.0.1:8081/").refusal == "refused: 127.0.0.1:8081 is a loopback address"
    assert policy.check("https://127.0.0.1:8080/").refusal == "refused: 127.0.0.1:8080 is a loopback address"
    assert policy.check("https://localhost:443/x").refusal is None  # the default port, spelled out
    assert policy.check("http://localhost/x").refusal == "refused: localhost:80 is a loopback name"
    # a source's name is trusted at its origin; on another port its address decides
    assert policy.check("http://intranet.example:8000/a").resolve is False
    assert policy.check("http://intranet.example:9000/a").resolve is True
    assert policy.trusts("Intranet.Example.") and not policy.trusts("other.example")


def test_allow_private_lets_intranet_hosts_through_but_never_metadata():
    policy = FetchPolicy([], allow_private=True)

    for url in [
        "http://10.1.2.3/",
        "http://192.168.1.1/",
        "http://127.0.0.1:9/",
        "http://localhost/",
        "http://100.64.0.1/",
    ]:
        assert policy.check(url).refusal is None, url
    for url, kind in [
        ("http://169.254.169.254/", "a cloud metadata address"),
        ("http://224.0.0.1/", "a multicast address"),
        ("http://0.0.0.0/", "an unspecified address"),
        ("http://255.255.255.255/", "a reserved address"),
        ("file:///etc/passwd", "file: links are not fetched"),
    ]:
        refusal = policy.check(url).refusal
        assert refusal is not None and kind in refusal, url


RESOLVE = """
import sys
from twisted.internet import reactor
from scrapers.fetchguard import FetchPolicy
from scrapers.resolver import GuardedResolver

resolver = GuardedResolver(reactor, 100, 5.0)
resolver.policy = FetchPolicy(sys.argv[1:])
results = []

def done(outcome, name):
    results.append(f"{name}: {getattr(outcome, 'value', outcome)}")
    if len(results) == 2:
        print("\\n".join(sorted(results)))
        reactor.stop()

for name in ("localhost", "127.0.0.1"):
    resolver.getHostByName(name).addBoth(done, name)
reactor.run()
"""


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (
            [],
            [
                "127.0.0.1: DNS lookup failed: refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address.",
                "localhost: DNS lookup failed: refused: localhost resolves to 127.0.0.1, a loopback address.",
            ],
        ),
        (
            ["http://localhost:8080/feed", "http://127.0.0.1:9/"],
            ["127.0.0.1: 127.0.0.1", "localhost: 127.0.0.1"],
        ),
    ],
)
def test_the_resolver_refuses_forbidden_answers_at_connect_time(sources, expected):
    """What the download handler connects to comes from this resolver: a name that resolves to this
    machine is refused there too (the DNS-rebinding half), except the names of configured sources."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RESOLVE), *sources],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected
