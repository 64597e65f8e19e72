"""The operator's endpoints: ``/metrics`` (Prometheus), ``/stats`` and ``/api/stats``.

All follow the rule of link management: loopback callers (with the same
Host/Origin checks), or ``Authorization: Bearer KEY`` when the server has an
API key. ``/stats`` itself is a page without data: with an API key a browser
cannot send the header on navigation, so the page is served and asks for the
key, which its script sends with each ``/api/stats`` request.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from aiohttp import web

from control.api import CONFIG, check_operator
from control.metrics import Metrics
from control.web_client import STATIC

Snapshot = Callable[[], Awaitable[dict[str, Any]]]  # the SFU's figures: in-process, or gathered from its workers
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
OBSERVE: web.AppKey[Snapshot] = web.AppKey("observe")
_PAGE_HEADERS = {"Cache-Control": "no-cache"}
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"  # the classic text format: every Prometheus reads it


async def metrics(request: web.Request) -> web.Response:
    check_operator(request, "read /metrics")
    body = request.app[METRICS].render(await request.app[OBSERVE]())
    return web.Response(body=body, headers={"Content-Type": TEXT_FORMAT, "Cache-Control": "no-store"})


async def stats_page(request: web.Request) -> web.FileResponse:
    if request.app[CONFIG].api_key is None:
        check_operator(request, "open /stats")
    return web.FileResponse(STATIC / "stats.html", headers=_PAGE_HEADERS)


async def stats_json(request: web.Request) -> web.Response:
    check_operator(request, "read /api/stats")
    snap = await request.app[OBSERVE]()
    body = {key: snap[key] for key in ("calls", "totals", "workers")}
    return web.json_response(body, headers={"Cache-Control": "no-store"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/stats", stats_page)
    app.router.add_get("/api/stats", stats_json)
