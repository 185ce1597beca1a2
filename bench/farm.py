"""The local feed farm and process-tree meter that bench/scale, bench/poll and bench/profile share.

A farm is one asyncio HTTP server (in a thread of the benchmark) listening on several loopback
addresses, 127.0.0.2 and up, so that per-host politeness has hosts to spread over. It serves RSS 2.0
feeds ``/f/N.xml`` of full-content items (``content:encoded`` long enough that no article page is
fetched) with an ETag and a Last-Modified, and answers a conditional GET that matches either with
304, as real feed servers do: every reader under test (newswatch, reader, newsboat) gets the same
bytes and the same 304s.

Imported by the extensionless scripts beside it (they put this folder on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import psutil

WORDS = "the company said its service would change for users in several regions as regulators review"
WORDS += " new rules on data model training chips prices apps launch support customers developers"
BODY_WORDS = 160  # twice over in content:encoded: about 2,000 characters, a full-content feed


@dataclass
class Feed:
    index: int
    items: list[tuple[str, datetime, str]] = field(default_factory=list)  # title, published, body
    body: bytes = b""
    etag: str = ""
    last_modified: str = ""


class Farm:
    """Feeds ``/f/N.xml`` on ``hosts`` loopback addresses; feed N lives on host N % len(hosts), and
    starts with ``items`` items."""

    def __init__(self, feeds: int, hosts: int, items: int = 2, seed: int = 1):
        self.hosts = [f"127.0.0.{2 + i}" for i in range(hosts)]
        self.port = 0
        self.requests = 0  # every request answered
        self.not_modified = 0  # of those, the 304s
        self.feeds = [Feed(i) for i in range(feeds)]
        rng = random.Random(seed)
        now = datetime.now(UTC).replace(microsecond=0)
        for feed in self.feeds:
            for _ in range(items):
                self._add(feed, now, rng)
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, index: int) -> str:
        return f"http://{self.hosts[index % len(self.hosts)]}:{self.port}/f/{index}.xml"

    def urls(self) -> list[str]:
        return [self.url(i) for i in range(len(self.feeds))]

    def item_url(self, feed: Feed, n: int) -> str:
        return f"{self.url(feed.index).removesuffix('.xml')}/{n}.html"

    def publish(self, index: int, rng: random.Random) -> tuple[str, datetime]:
        """A new item on feed ``index`` now; (its canonical URL, its publication time)."""
        feed = self.feeds[index]
        when = datetime.now(UTC)
        url = self.item_url(feed, len(feed.items) + 1)  # before the farm's thread adds it
        self._loop.call_soon_threadsafe(self._add, feed, when, rng)
        return url, when

    def _add(self, feed: Feed, when: datetime, rng: random.Random) -> None:
        n = len(feed.items) + 1
        words = WORDS.split()
        body = " ".join(rng.choice(words) for _ in range(BODY_WORDS))
        feed.items.append((f"Feed {feed.index} story {n}: {' '.join(rng.sample(words, 5))}", when, body))
        self._render(feed)

    def _render(self, feed: Feed) -> None:
        items = []
        for n, (title, when, text) in reversed(list(enumerate(feed.items, 1))):
            link = self.item_url(feed, n)
            items.append(
                f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
                f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>"
                f"<description>{text[:80]}</description>"
                f"<content:encoded><![CDATA[<p>{text}</p><p>{text}</p>]]></content:encoded></item>"
            )
        feed.body = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>Feed {feed.index}</title><link>http://example.com/{feed.index}</link>"
            f"<description>bench</description>{''.join(items)}</channel></rss>"
        ).encode()
        feed.etag = '"' + hashlib.sha1(feed.body).hexdigest()[:20] + '"'
        newest = max(when for _, when, _ in feed.items)
        feed.last_modified = format_datetime(newest, usegmt=True)

    # --- HTTP -------------------------------------------------------------------------------------------

    def start(self) -> Farm:
        self._thread.start()
        self._started.wait(10)
        return self

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._listen())
        self._started.set()
        self._loop.run_forever()

    async def _listen(self) -> None:
        first = await asyncio.start_server(self._client, self.hosts[0], 0, backlog=512)
        self.port = first.sockets[0].getsockname()[1]
        for host in self.hosts[1:]:
            await asyncio.start_server(self._client, host, self.port, backlog=512)
        for feed in self.feeds:  # the links name the port
            self._render(feed)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
                self.requests += 1
                writer.write(self._answer(path, headers))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        writer.close()

    def _answer(self, path: str, headers: dict[str, str]) -> bytes:
        try:
            feed = self.feeds[int(path.removeprefix("/f/").removesuffix(".xml"))]
        except (ValueError, IndexError):
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        validators = f"ETag: {feed.etag}\r\nLast-Modified: {feed.last_modified}\r\n"
        if_none_match, if_modified_since = headers.get("if-none-match"), headers.get("if-modified-since")
        if (if_none_match == feed.etag) if if_none_match else (if_modified_since == feed.last_modified):
            self.not_modified += 1
            return f"HTTP/1.1 304 Not Modified\r\n{validators}\r\n".encode()
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
            f"Content-Length: {len(feed.body)}\r\n{validators}\r\n"
        )
        return head.encode() + feed.body


def newswatch_config(path: Path, url: str, farm: Farm, feeds: int, interval: float, extra: str = "") -> Path:
    """A config.toml polling the first ``feeds`` feeds of ``farm`` into the store at ``url``
    (``extra``: more lines of its ``[crawl]`` table)."""
    lines = [f'[storage]\nurl = "{url}"\n', f"[crawl]\nallow_private = true\n{extra}\n"]
    for i in range(feeds):
        lines.append(
            f'[[sources]]\nname = "f{i}"\nkind = "rss"\nurl = "{farm.url(i)}"\ninterval = {interval}\n'
        )
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Tree:
    """RSS and CPU of a process and its descendants; CPU of reaped children counts too."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.peak = 0
        self.rss: list[int] = []
        self._cpu: dict[int, float] = {}

    def sample(self) -> None:
        total = 0
        with contextlib.suppress(psutil.Error):
            for proc in [self.root, *self.root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
                    times = proc.cpu_times()
                    own = times.user + times.system
                    if proc.pid == self.root.pid:
                        own += times.children_user + times.children_system
                    self._cpu[proc.pid] = own
        self.peak = max(self.peak, total)
        self.rss.append(total)

    @property
    def cpu_seconds(self) -> float:
        return sum(self._cpu.values())
