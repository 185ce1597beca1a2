"""The HTTP server inside ``newswatch run``: routes, security headers, start and stop.

aiohttp.web runs on the service's own asyncio loop (``AppRunner`` + ``TCPSite``): no second loop, no
thread, and the handlers can look at the scheduler and the bot directly. Store reads go through
``asyncio.to_thread``. Everything is read-only: GET and HEAD only (aiohttp answers 405 otherwise).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine
from yarl import URL

from .. import metrics, tracker
from ..config import Config
from . import feed, views
from .chart import safe_href
from .health import Health

log = logging.getLogger("newswatch")

STATIC = Path(__file__).with_name("static")
SECURITY_HEADERS = {
    # no script at all, styles and images only from here, never framed
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
CONFIG_KEY = web.AppKey("config", Config)
ENGINE_KEY = web.AppKey("engine", Engine)
HEALTH_KEY = web.AppKey("health", Health)
TEMPLATES_KEY = web.AppKey("templates", Environment)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:  # 404, 405: the same headers on errors
        response = error
    except Exception:  # a store that fails a read: logged, and a plain 500 with the same headers
        log.exception("web: %s %s failed", request.method, request.path)
        response = web.HTTPInternalServerError(text="internal error: see the service's log\n")
    response.headers.update(SECURITY_HEADERS)
    if isinstance(response, web.HTTPException):
        raise response
    return response


def _json(data: Any, status: int = 200) -> web.Response:
    body = data if isinstance(data, bytes) else views.dump(data)
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def public_url(request: web.Request, path: str, query: dict[str, str] | None = None) -> str:
    """``path`` as the client reached us: behind a reverse proxy, through its X-Forwarded-Proto, -Host
    and -Prefix (they only shape links in the answer to that same client)."""

    def forwarded(name: str) -> str:
        return request.headers.get(f"X-Forwarded-{name}", "").split(",")[0].strip()

    prefix = forwarded("Prefix").rstrip("/")
    url = URL.build(
        scheme=forwarded("Proto") or request.scheme,
        authority=forwarded("Host") or request.host,
        path=prefix + path,
    )
    return str(url.with_query(query) if query else url)


def _filters(request: web.Request) -> dict[str, str | None]:
    return {k: request.query.get(k, "").strip() or None for k in ("provider", "region")}


async def index(request: web.Request) -> web.Response:
    config, engine = request.app[CONFIG_KEY], request.app[ENGINE_KEY]
    try:
        context = await asyncio.to_thread(views.tracker_page, engine, config, **_filters(request))
    except tracker.UnknownName as error:
        raise web.HTTPBadRequest(text=f"{error}\n") from None
    html = request.app[TEMPLATES_KEY].get_template("index.html").render(context)
    return web.Response(text=html, content_type="text/html")


async def tracker_json(request: web.Request) -> web.Response:
    config, engine = request.app[CONFIG_KEY], request.app[ENGINE_KEY]
    try:
        data = await asyncio.to_thread(views.tracker_json, engine, config, **_filters(request))
    except tracker.UnknownName as error:
        return _json({"error": str(error)}, 400)
    return _json(data)


async def healthz(request: web.Request) -> web.Response:
    failed = await request.app[HEALTH_KEY].failures()
    if failed:
        return web.Response(text="unhealthy\n" + "\n".join(failed) + "\n", status=503)
    return web.Response(text="ok\n")


async def metrics_page(request: web.Request) -> web.Response:
    body = await asyncio.to_thread(generate_latest, metrics.REGISTRY)  # the store collector queries
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def stories_json(request: web.Request) -> web.Response:
    after = None
    if "since" in request.query:
        try:
            after = datetime.fromisoformat(request.query["since"])
        except ValueError:
            return _json({"error": "since: not an ISO 8601 date-time, e.g. 2024-10-21T00:00:00Z"}, 400)
        if after.tzinfo is None:
            return _json({"error": "since: give a time zone, e.g. 2024-10-21T00:00:00Z"}, 400)
    config, engine = request.app[CONFIG_KEY], request.app[ENGINE_KEY]
    stories, cursor = await asyncio.to_thread(
        views.alerted, engine, config, after=after, oldest_first=True, limit=views.PAGE_SIZE
    )
    following = None
    if cursor is not None:
        following = public_url(request, request.path, {"since": cursor.isoformat()})
    return _json({"stories": [views.story_json(s) for s in stories], "next": following})


async def atom_feed(request: web.Request) -> web.Response:
    config, engine = request.app[CONFIG_KEY], request.app[ENGINE_KEY]
    stories, _ = await asyncio.to_thread(views.alerted, engine, config, limit=feed.FEED_SIZE)
    body = feed.atom(stories, public_url(request, "/feed.xml"), public_url(request, "/"))
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")


def templates() -> Environment:
    """The page templates, every value escaped unless marked safe (only the chart's own SVG is)."""
    env = Environment(loader=PackageLoader("newswatch.web"), autoescape=select_autoescape(default=True))
    env.filters["href"] = safe_href
    return env


def build_app(config: Config, engine: Engine, health: Health) -> web.Application:
    app = web.Application(middlewares=[security_headers])
    app[CONFIG_KEY] = config
    app[ENGINE_KEY] = engine
    app[HEALTH_KEY] = health
    app[TEMPLATES_KEY] = templates()
    app.router.add_get("/", index)
    app.router.add_get("/api/tracker.json", tracker_json)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/api/stories.json", stories_json)
    app.router.add_get("/feed.xml", atom_feed)
    app.router.add_static("/static", STATIC)
    return app


class WebServer:
    """Started and stopped by the service; binds ``[web] listen``."""

    def __init__(self, config: Config, engine: Engine, health: Health):
        assert config.web.address is not None
        self.host, self.port = config.web.address
        self.app = build_app(config, engine, health)
        self.collector = metrics.StoreCollector(engine, config)
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)

    async def start(self) -> None:
        """Listen; an address in use or not ours raises OSError (the service exits 2 on it)."""
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await self.runner.cleanup()
            raise
        metrics.REGISTRY.register(self.collector)
        log.info("web: http://%s:%d/ (tracker, /metrics, /healthz, /feed.xml)", self.host, self.port)

    async def stop(self) -> None:
        metrics.REGISTRY.unregister(self.collector)
        await self.runner.cleanup()
