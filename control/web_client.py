"""The browser client: static pages served by the control plane.

``GET /`` creates a call link, ``GET /call/TOKEN`` joins that call; their
scripts and styles live under ``/static/``. Nothing is built or fetched from
elsewhere: the files in ``control/static`` are served as they are.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).with_name("static")

# Pages and scripts change with the server: browsers revalidate them (cheap, ETag).
_NO_CACHE = {"Cache-Control": "no-cache"}
# (the security headers and the CSP of every page: control/headers.py)
_PAGE_HEADERS = {
    **_NO_CACHE,
    "Permissions-Policy": "camera=(self), microphone=(self), display-capture=()",
}
# the call page: camera, microphone, a shared screen, and the speaker choice
_CALL_HEADERS = {
    **_NO_CACHE,
    "Permissions-Policy": "camera=(self), microphone=(self), display-capture=(self), speaker-selection=(self)",
}


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)


async def _call(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "call.html", headers=_CALL_HEADERS)


async def _favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "favicon.svg", headers={"Content-Type": "image/svg+xml", **_NO_CACHE})


async def _static_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/static/") and "Cache-Control" not in response.headers:
        response.headers.update(_NO_CACHE)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", _index)
    app.router.add_get("/call/{token}", _call)
    app.router.add_get("/favicon.ico", _favicon)
    app.router.add_static("/static/", STATIC)
    app.on_response_prepare.append(_static_headers)
