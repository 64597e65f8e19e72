"""The browser client: static pages served by the control plane."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).with_name("static")


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def _call(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "call.html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", _index)
    app.router.add_get("/call/{token}", _call)
    app.router.add_static("/static/", STATIC)
