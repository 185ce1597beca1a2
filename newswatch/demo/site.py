"""A local news site on 127.0.0.1: ITHome-shaped pages and RSS, and generic RSS/Atom/RDF feeds.

Why this is in the package: ``newswatch demo`` serves its bundled news from it, offline, and the
tests and benchmarks crawl the same server (``tests.fixtures.newssite`` adds the misbehaving
endpoints and generated volume they need on top). The crawler has to be exercised against pages that
look like the real thing (ITHome's markup and RSS, feeds in UTF-8 and GBK, conditional GET), and the
standard library (``http.server.ThreadingHTTPServer``) serves them with no dependency, starting in
milliseconds.

Usage::

    with NewsSite() as site:
        article = site.add_ithome_article("标题", ["第一段。", "第二段。"])
        feed = feedparser.parse(urllib.request.urlopen(site.base_url + "/rss/").read())
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import html
import re
import socket
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import quote, unquote, urlsplit

__all__ = ["AD_TIPS", "BEIJING", "HOT_LIST", "Article", "Feed", "NewsSite", "RequestRecord", "Streamer"]

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
ITHOME_FIRST_ID = 892248
ITHOME_RSS_LIMIT = 60
ITHOME_LIST_LIMIT = 300
ITHOME_CANONICAL_HOST = "https://www.ithome.com"
LAPIN_HOST = "https://lapin.ithome.com"
FEED_KINDS = ("rss", "atom", "rdf")
AD_TIPS = "广告声明：文内含有的对外跳转链接（包括不限于超链接、二维码、口令等形式），用于传递更多信息，节省甄选时间，结果仅供参考，IT之家所有文章均包含本声明。"  # noqa: E501

# Sidebar "hot list" junk on every ITHome article page. One entry is deliberately on-topic for newswatch
# (an AI service leaving a region) so that extraction which keeps page chrome produces a false alert.
HOT_LIST: tuple[str, ...] = (
    "OpenAI 宣布停止向中国大陆地区提供 API 服务",
    "微软 Windows 11 24H2 正式版开始全面推送",
    "小米 15 Pro 拆解：内部堆叠一览",
    "苹果 iOS 18.1 正式版发布，Apple Intelligence 上线",
    "英伟达 RTX 5090 显卡规格曝光",
)

_XML_CONTENT_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "rdf": "application/rdf+xml",
}
_FEED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


class RequestRecord(NamedTuple):
    """One request as the server saw it; status is 0 when the server never answered (a hang)."""

    method: str
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class Article:
    """One article page served by the site.

    ``url`` is where the page lives on the site and ``link`` is the URL as it appears in feeds and
    lists (``url`` + ``link_params`` for feed items, an external lapin.ithome.com URL for ITHome promos),
    so tests can check both what the crawler is given and what it should normalize to. ``paragraphs`` are
    the body paragraphs exactly as rendered (ITHome's "IT之家 10 月 21 日消息，" lead-in included), so
    extraction tests can compare against them directly.
    """

    title: str
    paragraphs: list[str]
    published: datetime
    url: str
    canonical: str
    path: str
    news_id: int | None = None
    link: str = ""
    guid: str = ""
    feed: str | None = None
    slug: str = ""
    mobile_url: str | None = None
    author: str = ""
    source: str = ""
    editor: str = ""
    tags: tuple[str, ...] = ()
    image: bool = False
    image_url: str | None = None
    promo: bool = False


@dataclass
class Feed:
    """A generic feed served at ``/feeds/{name}.xml``; ``items`` are kept in insertion order."""

    name: str
    kind: str
    encoding: str
    url: str
    items: list[Article] = field(default_factory=list)
    lang: str = "en"
    declare_encoding: bool = True
    full_content: bool = False
    title: str = ""
    path: str = ""
    home_url: str = ""


@dataclass
class _Response:
    """A fully rendered response; ``etag`` set means conditional GET applies."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: datetime | None = None


# --------------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime:
    """Normalize to aware UTC without microseconds: feeds and pages only carry whole seconds."""
    if value is None:
        value = datetime.now(UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


def _e(text: str) -> str:
    """Escape for element text or attribute values (valid in both HTML and XML)."""
    return html.escape(text, quote=True)


def _http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def _iso_z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:24] + '"'


def _slugify(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60].rstrip("-")
    return slug or "item"


def _first_sentence(paragraphs: list[str]) -> str:
    first = paragraphs[0] if paragraphs else ""
    return _SENTENCE_END.split(first.strip(), maxsplit=1)[0]


def _ithome_path(news_id: int) -> str:
    return f"/0/{news_id // 1000:03d}/{news_id % 1000:03d}.htm"  # as ITHome writes it (and the crawler)


def _html_paragraphs(paragraphs: list[str]) -> str:
    return "".join(f"<p>{_e(p)}</p>" for p in paragraphs)


# --------------------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    """Threaded server that knows its NewsSite and stays quiet about clients hanging up."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # benchmarks open many connections at once; the default backlog of 5 drops SYNs

    def __init__(self, address: tuple[str, int], site: NewsSite) -> None:
        self.site = site
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients timing out and disconnecting is the point of several routes; don't print tracebacks."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


Streamer = Callable[["_Handler", bool], None]  # writes its own response: (handler, HEAD request?)


class _Handler(BaseHTTPRequestHandler):
    """Routes every request to the NewsSite; keep-alive HTTP/1.1 like a real news server."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections eventually free their thread
    disable_nagle_algorithm = True  # headers and body go out as separate writes; avoid 40 ms ACK stalls
    server: _Server

    @property
    def site(self) -> NewsSite:
        return self.server.site

    def version_string(self) -> str:
        return "newsfixture"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging; tests inspect ``NewsSite.requests`` instead."""

    def setup(self) -> None:
        super().setup()
        self.site._track_connection(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.site._track_connection(self.connection, add=False)

    def send_response(self, code: int, message: str | None = None) -> None:
        self._record(code)
        super().send_response(code, message)

    def _record(self, status: int) -> None:
        headers = dict(self.headers.items()) if getattr(self, "headers", None) is not None else {}
        self.site._record(RequestRecord(self.command or "", getattr(self, "path", ""), headers, status))

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def _dispatch(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        try:
            streamer = self.site._streamer(path)
            if streamer is not None:
                streamer(self, head)
                return
            response = self.site._resolve(path)
            if response.etag is not None and self._not_modified(response):
                self.send_response(304)
                self.send_header("ETag", response.etag)
                if response.last_modified is not None:
                    self.send_header("Last-Modified", _http_date(response.last_modified))
                self.end_headers()
                return
            self._send(response, head)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _not_modified(self, response: _Response) -> bool:
        """RFC 9110 order: If-None-Match decides alone when present, else If-Modified-Since."""
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            return "*" in tags or response.etag in tags
        if_modified_since = self.headers.get("If-Modified-Since")
        if not if_modified_since or response.last_modified is None:
            return False
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return since >= response.last_modified

    def _send(self, response: _Response, head: bool) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        if response.etag is not None:
            self.send_header("ETag", response.etag)
        if response.last_modified is not None:
            self.send_header("Last-Modified", _http_date(response.last_modified))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not head and response.body:
            self.wfile.write(response.body)

    # ---- misbehaving streams --------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------------------
# the site
# --------------------------------------------------------------------------------------------------------


class NewsSite:
    """A local news site: ITHome-shaped pages and RSS, and generic feeds.

    The listening socket is bound in ``__init__`` so ``base_url`` and every ``Article.url`` are known
    before ``start()``; content may be added before or while serving (a lock guards the store and the
    render cache is dropped on every change).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.RLock()
        self._requests_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server((host, port), self)
        self.host = host
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://{host}:{self.port}"
        self.requests: list[RequestRecord] = []
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._created = _utc(None)
        self._ithome: dict[int, Article] = {}
        self._feeds: dict[str, Feed] = {}
        self._feed_articles: dict[tuple[str, str], Article] = {}
        self._cache: dict[str, _Response] = {}
        self._routes: list[tuple[re.Pattern[str], Callable[..., _Response], bool]] = [
            (re.compile(r"/"), self._home, False),
            (re.compile(r"/rss/?"), self._ithome_rss, True),
            (re.compile(r"/list/?"), self._ithome_list, True),
            (re.compile(r"/0/(\d+)/(\d{3})\.htm"), self._ithome_article, False),
            (re.compile(r"/html/(\d+)\.htm"), self._ithome_mobile, False),
            (re.compile(r"/tag/([^/]+)/?"), self._ithome_tag, False),
            (re.compile(r"/feeds/([^/]+)\.xml"), self._feed_document, True),
            (re.compile(r"/news/([^/]+)/?"), self._feed_index, False),
            (re.compile(r"/news/([^/]+)/([^/]+)\.html"), self._feed_article, False),
        ]

    # ---- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> NewsSite:
        """Serve in a daemon thread so a forgotten stop() can never keep pytest alive."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"newssite:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop quickly even with hanging/dribbling requests in flight: they poll ``_stopping``."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # wakes threads blocked reading an idle keep-alive socket
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> NewsSite:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- introspection --------------------------------------------------------------------------------

    def hits(self, path_prefix: str = "") -> int:
        """Number of recorded requests whose raw path (query included) starts with ``path_prefix``."""
        with self._requests_lock:
            return sum(1 for record in self.requests if record.path.startswith(path_prefix))

    def reset_requests(self) -> None:
        with self._requests_lock:
            self.requests.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._requests_lock:
            self.requests.append(record)

    def _track_connection(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ---- content: ITHome ------------------------------------------------------------------------------

    def add_ithome_article(
        self,
        title: str,
        paragraphs: list[str],
        published: datetime | None = None,
        news_id: int | None = None,
        author: str = "稻草人",
        source: str = "IT之家",
        editor: str = "汪淼",
        tags: tuple[str, ...] = (),
        image: bool = True,
        promo: bool = False,
    ) -> Article:
        """Add an ITHome news item; ``news_id`` defaults to the next id after 892247."""
        published = _utc(published)
        beijing = published.astimezone(BEIJING)
        lead_in = f"IT之家 {beijing.month} 月 {beijing.day} 日消息，"
        body = list(paragraphs) or [""]
        if not body[0].startswith("IT之家"):
            body[0] = lead_in + body[0]
        with self._lock:
            if news_id is None:
                news_id = max(self._ithome, default=ITHOME_FIRST_ID - 1) + 1
            if news_id in self._ithome:
                raise ValueError(f"ITHome news id {news_id} already exists")
            path = _ithome_path(news_id)
            canonical = ITHOME_CANONICAL_HOST + path
            url = self.base_url + path
            link = f"{LAPIN_HOST}/html/digi/{news_id}.htm" if promo else url
            image_url = None
            if image:
                name = uuid.uuid5(uuid.NAMESPACE_URL, canonical)
                image_url = (
                    f"https://img.ithome.com/newsuploadfiles/{beijing.year}/{beijing.month}/{name}.jpg"
                )
            article = Article(
                title=title,
                paragraphs=body,
                published=published,
                url=url,
                canonical=canonical,
                path=path,
                news_id=news_id,
                link=link,
                guid=link,
                mobile_url=f"{self.base_url}/html/{news_id}.htm",
                author=author,
                source=source,
                editor=editor,
                tags=tuple(tags),
                image=image,
                image_url=image_url,
                promo=promo,
            )
            self._ithome[news_id] = article
            self._cache.clear()
        return article

    def _ithome_sorted(self) -> list[Article]:
        return sorted(self._ithome.values(), key=lambda a: (a.published, a.news_id or 0), reverse=True)

    def _ithome_rss(self) -> _Response:
        items = self._ithome_sorted()[:ITHOME_RSS_LIMIT]
        newest = items[0].published if items else self._created
        parts = [
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0">\n<channel>\n<title>IT之家</title>\n'
            f"<link>{self.base_url}/</link>\n<description>IT之家 - 软媒旗下网站</description>\n"
            f"<language>zh-cn</language>\n<lastBuildDate>{_http_date(newest)}</lastBuildDate>\n"
        ]
        for art in items:
            stub = f"<p>{_e(art.paragraphs[0])}</p>"
            parts.append(
                f"<item>\n<title>{_cdata(art.title)}</title>\n<link>{_e(art.link)}</link>\n"
                f"<guid>{_e(art.guid)}</guid>\n<pubDate>{_http_date(art.published)}</pubDate>\n"
                f"<description>{_e(stub)}</description>\n</item>\n"
            )
        parts.append("</channel>\n</rss>\n")
        body = "".join(parts).encode("utf-8")
        return _Response(200, body, "application/xml; charset=utf-8", etag=_etag(body), last_modified=newest)

    def _ithome_chrome(self, title: str) -> tuple[str, str]:
        """Header and footer around every ITHome page: the junk a naive extractor must drop."""
        base = self.base_url
        tag = quote("手机")
        header = (
            f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>{_e(title)}</title>\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<link rel="stylesheet" href="//img.ithome.com/css/v2.3/main.css">\n'
            "<script>var _hmt = _hmt || []; window.ithome = {channel: 'news', lapin: true};</script>\n"
            "__HEAD_EXTRA__</head>\n<body>\n"
            '<div id="nav"><div class="nav_con">'
            f'<a class="logo" href="{base}/" title="IT之家">IT之家 - 数字化生活</a>'
            f'<ul class="nav_menu"><li><a href="{base}/list/">资讯</a></li>'
            f'<li><a href="{base}/tag/{tag}">手机</a></li>'
            f'<li><a href="{base}/tag/{quote("电脑")}">电脑</a></li>'
            f'<li><a href="{base}/tag/{quote("AI")}">AI</a></li>'
            '<li><a href="#">辣品</a></li><li><a href="#">最会买</a></li><li><a href="#">圈子</a></li></ul>'
            '<div class="search"><input type="text" placeholder="搜索 IT之家"><button>搜索</button></div>'
            '<div class="login"><a href="#">登录</a> | <a href="#">注册</a></div></div></div>\n'
        )
        footer = (
            '<div id="footer"><div class="fnav"><a href="#">关于IT之家</a> | <a href="#">联系我们</a> | '
            '<a href="#">加入软媒</a> | <a href="#">投稿</a> | <a href="#">广告合作</a></div>'
            "<p>软媒旗下网站：IT之家 最会买 - 返利返现优惠券 iPhone之家 Win7之家 Win10之家 Win11之家</p>"
            "<p>软媒旗下软件：软媒手机APP应用 魔方 最会买 要知</p>"
            "<p>Copyright &copy; RuanMei.com, All Rights Reserved. 青岛软媒网络科技有限公司版权所有</p>"
            "</div>\n<script>document.querySelectorAll('img.lazy').forEach(function(i){i.src=i.dataset.original;});"
            "</script>\n</body>\n</html>\n"
        )
        return header, footer

    def _ithome_article(self, major: str, minor: str) -> _Response:
        article = self._ithome.get(int(major) * 1000 + int(minor))
        if article is None or article.path != f"/0/{major}/{minor}.htm":
            return self._not_found()
        base = self.base_url
        beijing = article.published.astimezone(BEIJING)
        header, footer = self._ithome_chrome(f"{article.title} - IT之家")
        mobile = _e(article.mobile_url or "")
        head_extra = (
            f'<meta name="keywords" content="{_e(",".join(article.tags))}">\n'
            f'<meta name="description" content="{_e(article.paragraphs[0][:120])}">\n'
            f'<link rel="canonical" href="{_e(article.canonical)}">\n'
            f'<meta name="mobile-agent" content="format=html5;url={mobile}">\n'
            f'<link rel="alternate" media="only screen and (max-width: 640px)" href="{mobile}">\n'
        )
        body_parts = [f"<p>{_e(article.paragraphs[0])}</p>"]
        if article.image_url:
            body_parts.append(
                '<p style="text-align: center;">'
                f'<img data-original="{_e(article.image_url)}" '
                'src="//img.ithome.com/images/v2.3/placeholder.png" class="lazy" '
                f'alt="{_e(article.title)}" title="{_e(article.title)}" width="600" height="338"></p>'
            )
        body_parts.extend(f"<p>{_e(p)}</p>" for p in article.paragraphs[1:])
        topic = article.tags[0] if article.tags else "科技"
        body_parts.append(
            f'<a class="topic-bar" href="{base}/tag/{quote(topic)}" target="_blank">'
            f"<span>IT之家 {_e(topic)} 专题</span><span>查看更多相关新闻 &gt;</span></a>"
        )
        body_parts.append(f'<p class="ad-tips">{_e(AD_TIPS)}</p>')
        tags_html = "".join(
            f'<a href="{base}/tag/{quote(t)}" target="_blank">{_e(t)}</a>' for t in article.tags
        )
        source_href = f"{base}/" if article.source == "IT之家" else "#"
        body_html = "\n".join(body_parts)
        hot = "".join(f'<li><a href="{base}/list/" title="{_e(t)}">{_e(t)}</a></li>' for t in HOT_LIST)
        page = (
            header.replace("__HEAD_EXTRA__", head_extra) + '<div id="wrapper"><div class="content fl">\n'
            f'<div class="cv"><a href="{base}/">IT之家</a> &gt; <a href="{base}/list/">科技</a></div>\n'
            f'<div class="post_title"><h1>{_e(article.title)}</h1></div>\n'
            '<div class="news_info">'
            f'<span id="pubtime_baidu">{beijing:%Y-%m-%d %H:%M:%S}</span>'
            f'<span id="source_baidu">来源：<a href="{source_href}" target="_blank">'
            f"{_e(article.source)}</a></span>"
            f'<span id="author_baidu">作者：<strong>{_e(article.author)}</strong></span>'
            f'<span id="editor_baidu">责编：<strong>{_e(article.editor)}</strong></span>'
            '<span class="comment-count">评论：<a href="#post_comm">0</a></span></div>\n'
            f'<div class="post_content" id="paragraph">\n{body_html}\n</div>\n'
            f'<div class="news_tags">相关标签：{tags_html}</div>\n'
            '<div class="shareto">分享到：<a href="#">微信</a> <a href="#">微博</a> '
            '<a href="#">QQ空间</a></div>\n'
            f'<div id="post_comm" data-nid="{article.news_id}"><div class="comm_title">发表评论</div>'
            '<div class="comm_list">加载中……</div></div>\n'
            "</div>\n"
            '<div class="fr" id="side_func"><div class="hot-list"><div class="tt">24 小时阅读榜</div>'
            f"<ul>{hot}</ul></div>"
            '<div class="ad"><a href="#">软媒魔方：电脑优化必备神器，立即下载</a></div></div>\n'
            "</div>\n" + footer
        )
        return _Response(200, page.encode("utf-8"), "text/html; charset=utf-8")

    def _ithome_mobile(self, news_id: str) -> _Response:
        article = self._ithome.get(int(news_id))
        if article is None:
            return self._not_found()
        beijing = article.published.astimezone(BEIJING)
        page = (
            '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width,initial-scale=1,user-scalable=no">\n'
            f"<title>{_e(article.title)} - IT之家</title>\n"
            f'<link rel="canonical" href="{_e(article.canonical)}">\n</head>\n<body>\n'
            f'<div class="header"><a href="{self.base_url}/">IT之家</a>'
            '<a class="open-app" href="#">打开 App</a></div>\n'
            f'<div class="news-title"><h1>{_e(article.title)}</h1></div>\n'
            f'<div class="news-info"><span class="news-author">{_e(article.author)}</span>'
            f'<span class="news-time">{beijing:%Y/%m/%d %H:%M}</span></div>\n'
            f'<div class="news-content">{_html_paragraphs(article.paragraphs)}</div>\n'
            '<div class="footer">IT之家 &copy; 软媒 <a href="#">电脑版</a></div>\n</body>\n</html>\n'
        )
        return _Response(200, page.encode("utf-8"), "text/html; charset=utf-8")

    def _ithome_list(self) -> _Response:
        header, footer = self._ithome_chrome("最新资讯 - IT之家")
        rows = []
        for art in self._ithome_sorted()[:ITHOME_LIST_LIMIT]:
            beijing = art.published.astimezone(BEIJING)
            rows.append(
                f'<li><span class="date">{beijing:%Y-%m-%d}</span>'
                f'<a class="t" href="{_e(art.link)}" target="_blank">{_e(art.title)}</a>'
                f"<i>{beijing:%H:%M}</i></li>"
            )
        rows_html = "\n".join(rows)
        page = (
            header.replace("__HEAD_EXTRA__", "")
            + f'<div id="list"><div class="fl"><ul>\n{rows_html}\n</ul></div>'
            '<div class="fr"><div class="tt">热门标签</div></div></div>\n' + footer
        )
        return _Response(200, page.encode("utf-8"), "text/html; charset=utf-8")

    def _ithome_tag(self, name: str) -> _Response:
        header, footer = self._ithome_chrome(f"{name} - IT之家")
        rows = []
        for art in self._ithome_sorted():
            if name not in art.tags:
                continue
            beijing = art.published.astimezone(BEIJING)
            rows.append(
                f'<li><h2><a href="{_e(art.link)}" target="_blank">{_e(art.title)}</a></h2>'
                f'<div class="c" data-ot="{beijing:%Y-%m-%dT%H:%M:%S}.000+08:00"></div></li>'
            )
        rows_html = "\n".join(rows)
        page = (
            header.replace("__HEAD_EXTRA__", "")
            + f'<div class="tag_title"><h1>{_e(name)}</h1></div>\n<ul class="bl">\n{rows_html}\n</ul>\n'
            + footer
        )
        return _Response(200, page.encode("utf-8"), "text/html; charset=utf-8")

    # ---- content: generic feeds -----------------------------------------------------------------------

    def add_feed(
        self,
        name: str,
        kind: str = "rss",
        encoding: str = "utf-8",
        lang: str = "en",
        declare_encoding: bool = True,
        full_content: bool = False,
    ) -> Feed:
        """Add an empty feed at ``/feeds/{name}.xml``; ``kind`` is "rss", "atom" or "rdf"."""
        if kind not in FEED_KINDS:
            raise ValueError(f"feed kind must be one of {FEED_KINDS}, not {kind!r}")
        if not _FEED_NAME.fullmatch(name):
            raise ValueError(f"feed name {name!r} must match {_FEED_NAME.pattern}")
        codecs.lookup(encoding)  # unknown codec -> LookupError now rather than at request time
        with self._lock:
            if name in self._feeds:
                raise ValueError(f"feed {name!r} already exists")
            feed = Feed(
                name=name,
                kind=kind,
                encoding=encoding.lower(),
                url=f"{self.base_url}/feeds/{name}.xml",
                lang=lang,
                declare_encoding=declare_encoding,
                full_content=full_content,
                title=f"{name} news",
                path=f"/feeds/{name}.xml",
                home_url=f"{self.base_url}/news/{name}/",
            )
            self._feeds[name] = feed
            self._cache.clear()
        return feed

    def add_feed_item(
        self,
        feed: str,
        title: str,
        paragraphs: list[str],
        published: datetime | None = None,
        link_params: str = "",
        guid: str | None = None,
    ) -> Article:
        """Add an item and its page ``/news/{feed}/{slug}.html``; KeyError for an unknown feed."""
        published = _utc(published)
        with self._lock:
            target = self._feeds[feed]
            slug = f"{_slugify(title)}-{len(target.items) + 1}"
            path = f"/news/{feed}/{slug}.html"
            url = self.base_url + path
            link = url + link_params
            article = Article(
                title=title,
                paragraphs=list(paragraphs),
                published=published,
                url=url,
                canonical=url,
                path=path,
                link=link,
                guid=guid if guid is not None else link,
                feed=feed,
                slug=slug,
                author="Staff Reporter",
            )
            target.items.append(article)
            self._feed_articles[(feed, slug)] = article
            self._cache.clear()
        return article

    def _feed_document(self, name: str) -> _Response:
        feed = self._feeds.get(name)
        if feed is None:
            return self._not_found()
        items = sorted(feed.items, key=lambda a: a.published, reverse=True)
        newest = items[0].published if items else self._created
        render = {"rss": self._render_rss, "atom": self._render_atom, "rdf": self._render_rdf}[feed.kind]
        declared = f' encoding="{feed.encoding}"' if feed.declare_encoding else ""
        declaration = f'<?xml version="1.0"{declared}?>\n'
        body = (declaration + render(feed, items, newest)).encode(feed.encoding, "xmlcharrefreplace")
        if feed.declare_encoding:
            content_type = f"{_XML_CONTENT_TYPES[feed.kind]}; charset={feed.encoding}"
        else:
            content_type = "application/xml"
        return _Response(200, body, content_type, etag=_etag(body), last_modified=newest)

    def _render_rss(self, feed: Feed, items: list[Article], newest: datetime) -> str:
        parts = [
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n'
            f"<title>{_e(feed.title)}</title>\n<link>{_e(feed.home_url)}</link>\n"
            f"<description>Latest stories from {_e(feed.name)}</description>\n"
            f"<language>{_e(feed.lang)}</language>\n"
            f'<atom:link href="{_e(feed.url)}" rel="self" type="application/rss+xml"/>\n'
            f"<lastBuildDate>{_http_date(newest)}</lastBuildDate>\n"
        ]
        for art in items:
            permalink = "true" if art.guid == art.link else "false"
            parts.append(
                f"<item>\n<title>{_e(art.title)}</title>\n<link>{_e(art.link)}</link>\n"
                f'<guid isPermaLink="{permalink}">{_e(art.guid)}</guid>\n'
                f"<pubDate>{_http_date(art.published)}</pubDate>\n"
                f"<description>{_e(_first_sentence(art.paragraphs))}</description>\n"
            )
            if feed.full_content:
                parts.append(f"<content:encoded>{_e(_html_paragraphs(art.paragraphs))}</content:encoded>\n")
            parts.append("</item>\n")
        parts.append("</channel>\n</rss>\n")
        return "".join(parts)

    def _render_atom(self, feed: Feed, items: list[Article], newest: datetime) -> str:
        parts = [
            f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{_e(feed.lang)}">\n'
            f"<title>{_e(feed.title)}</title>\n<id>{_e(feed.url)}</id>\n<updated>{_iso_z(newest)}</updated>\n"
            f'<link rel="self" type="application/atom+xml" href="{_e(feed.url)}"/>\n'
            f'<link rel="alternate" type="text/html" href="{_e(feed.home_url)}"/>\n'
        ]
        for art in items:
            parts.append(
                f"<entry>\n<title>{_e(art.title)}</title>\n<id>{_e(art.guid)}</id>\n"
                f'<link rel="alternate" type="text/html" href="{_e(art.link)}"/>\n'
                f"<updated>{_iso_z(art.published)}</updated>\n<published>{_iso_z(art.published)}</published>\n"
                f"<author><name>{_e(art.author)}</name></author>\n"
                f'<summary type="html">{_e(_first_sentence(art.paragraphs))}</summary>\n'
            )
            if feed.full_content:
                parts.append(f'<content type="html">{_e(_html_paragraphs(art.paragraphs))}</content>\n')
            parts.append("</entry>\n")
        parts.append("</feed>\n")
        return "".join(parts)

    def _render_rdf(self, feed: Feed, items: list[Article], newest: datetime) -> str:
        seq = "".join(f'<rdf:li rdf:resource="{_e(art.guid)}"/>' for art in items)
        parts = [
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns="http://purl.org/rss/1.0/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/">\n'
            f'<channel rdf:about="{_e(feed.url)}">\n<title>{_e(feed.title)}</title>\n'
            f"<link>{_e(feed.home_url)}</link>\n"
            f"<description>Latest stories from {_e(feed.name)}</description>\n"
            f"<dc:language>{_e(feed.lang)}</dc:language>\n<dc:date>{_iso_z(newest)}</dc:date>\n"
            f"<items><rdf:Seq>{seq}</rdf:Seq></items>\n</channel>\n"
        ]
        for art in items:
            parts.append(
                f'<item rdf:about="{_e(art.guid)}">\n<title>{_e(art.title)}</title>\n'
                f"<link>{_e(art.link)}</link>\n"
                f"<description>{_e(_first_sentence(art.paragraphs))}</description>\n"
                f"<dc:date>{_iso_z(art.published)}</dc:date>\n<dc:creator>{_e(art.author)}</dc:creator>\n"
            )
            if feed.full_content:
                parts.append(f"<content:encoded>{_e(_html_paragraphs(art.paragraphs))}</content:encoded>\n")
            parts.append("</item>\n")
        parts.append("</rdf:RDF>\n")
        return "".join(parts)

    def _feed_index(self, name: str) -> _Response:
        feed = self._feeds.get(name)
        if feed is None:
            return self._not_found()
        rows = "".join(
            f'<li><a href="{_e(a.url)}">{_e(a.title)}</a></li>'
            for a in sorted(feed.items, key=lambda a: a.published, reverse=True)
        )
        page = (
            f'<!DOCTYPE html>\n<html lang="{_e(feed.lang)}"><head><meta charset="{feed.encoding}">'
            f'<title>{_e(feed.title)}</title><link rel="alternate" type="{_XML_CONTENT_TYPES[feed.kind]}" '
            f'href="{_e(feed.url)}"></head>\n<body><h1>{_e(feed.title)}</h1><ul>{rows}</ul></body></html>\n'
        )
        return self._feed_html(feed, page)

    def _feed_article(self, name: str, slug: str) -> _Response:
        article = self._feed_articles.get((name, slug))
        feed = self._feeds.get(name)
        if article is None or feed is None:
            return self._not_found()
        base = self.base_url
        iso = article.published.isoformat()
        position = feed.items.index(article)
        related = [a for a in feed.items[max(0, position - 2) : position + 3] if a is not article][:3]
        related_html = "".join(f'<li><a href="{_e(a.url)}">{_e(a.title)}</a></li>' for a in related)
        body_html = "\n".join(f"<p>{_e(p)}</p>" for p in article.paragraphs)
        page = (
            f'<!DOCTYPE html>\n<html lang="{_e(feed.lang)}">\n<head>\n<meta charset="{feed.encoding}">\n'
            f"<title>{_e(article.title)} | {_e(feed.title)}</title>\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta property="og:title" content="{_e(article.title)}">\n'
            '<meta property="og:type" content="article">\n'
            f'<meta property="og:url" content="{_e(article.url)}">\n'
            f'<meta property="article:published_time" content="{iso}">\n'
            f'<meta name="description" content="{_e(_first_sentence(article.paragraphs))}">\n'
            f'<link rel="canonical" href="{_e(article.canonical)}">\n'
            f'<link rel="alternate" type="{_XML_CONTENT_TYPES[feed.kind]}" href="{_e(feed.url)}">\n'
            "<script>window.dataLayer = window.dataLayer || [];"
            " dataLayer.push({event: 'pageview'});</script>\n"
            "</head>\n<body>\n"
            f'<header class="site-header"><a class="logo" href="{_e(feed.home_url)}">{_e(feed.title)}</a>'
            f'<nav><ul><li><a href="{base}/">Home</a></li><li><a href="{_e(feed.home_url)}">Latest</a></li>'
            '<li><a href="#">Reviews</a></li><li><a href="#">Science</a></li>'
            '<li><a href="#">Subscribe</a></li>'
            "</ul></nav></header>\n<main>\n<article>\n"
            f"<h1>{_e(article.title)}</h1>\n"
            f'<p class="byline">By <span class="author">{_e(article.author)}</span> · '
            f'<time datetime="{iso}">{article.published:%b %d, %Y %H:%M} UTC</time></p>\n'
            f'<div class="article-body">\n{body_html}\n</div>\n'
            "</article>\n"
            f'<aside class="related"><h2>Related stories</h2><ul>{related_html}</ul></aside>\n'
            '<aside class="newsletter"><h2>Get the daily briefing</h2>'
            "<p>Sign up for our newsletter and never miss a story.</p>"
            '<form><input type="email" placeholder="you@example.com"><button>Sign up</button>'
            "</form></aside>\n</main>\n"
            '<footer class="site-footer"><p>&copy; 2024 Example Media Group. All rights reserved.</p>'
            '<p><a href="#">Privacy policy</a> · <a href="#">Terms of use</a> · <a href="#">Contact</a></p>'
            "</footer>\n"
            '<div class="cookie-banner" role="dialog">We use cookies to personalise content and ads and to '
            "analyse our traffic. <button>Accept all</button> <button>Manage preferences</button></div>\n"
            "</body>\n</html>\n"
        )
        return self._feed_html(feed, page)

    @staticmethod
    def _feed_html(feed: Feed, page: str) -> _Response:
        content_type = f"text/html; charset={feed.encoding}" if feed.declare_encoding else "text/html"
        return _Response(200, page.encode(feed.encoding, "xmlcharrefreplace"), content_type)

    # ---- misc pages -----------------------------------------------------------------------------------

    def _home_links(self) -> list[str]:
        """The paths the home page lists."""
        return ["/rss/", "/list/", *(feed.path for feed in self._feeds.values())]

    def _home(self) -> _Response:
        items = "".join(
            f'<li><a href="{self.base_url}{_e(path)}">{_e(path)}</a></li>' for path in self._home_links()
        )
        page = (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>newswatch news site</title></head>'
            f"<body><h1>newswatch news site</h1><ul>{items}</ul></body></html>\n"
        )
        return _Response(200, page.encode("utf-8"), "text/html; charset=utf-8")

    @staticmethod
    def _not_found() -> _Response:
        page = (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>404 - 页面不存在</title></head>'
            '<body><div class="error"><h1>404</h1><p>抱歉，您访问的页面不存在或已被删除。</p>'
            "<p>Sorry, the page you are looking for does not exist.</p></div></body></html>\n"
        )
        return _Response(404, page.encode("utf-8"), "text/html; charset=utf-8")


    # ---- routing ----------------------------------------------------------------------------------------

    def _streamer(self, path: str) -> Streamer | None:
        """A route that writes its response itself, bit by bit, instead of a rendered ``_Response``
        (none here; the tests' site streams its misbehaving endpoints)."""
        return None

    def _resolve(self, path: str) -> _Response:
        """Render (or reuse) the response for a decoded path; feeds are cached until content changes."""
        with self._lock:
            cached = self._cache.get(path)
            if cached is not None:
                return cached
            for pattern, handler, cacheable in self._routes:
                match = pattern.fullmatch(path)
                if match is None:
                    continue
                response = handler(*match.groups())
                if cacheable and response.status == 200:
                    self._cache[path] = response
                return response
            return self._not_found()
