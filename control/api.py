"""HTTP handlers of the control API (docs/protocol.md, "Links" and "Joining")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from control.auth import RequestTarget, check_manage
from control.clock import iso8601
from control.config import Config
from control.ice_servers import ice_servers_for
from control.links import LinkService
from control.ratelimit import RateLimiter
from control.validation import bool_field, call_type_field, json_object, only_fields, text_field

CONFIG: web.AppKey[Config] = web.AppKey("config", Config)
LINKS: web.AppKey[LinkService] = web.AppKey("links", LinkService)
LIMITER: web.AppKey[RateLimiter] = web.AppKey("limiter", RateLimiter)
WORKERS: web.AppKey[Callable[[], list[dict[str, Any]]]] = web.AppKey("workers")

OPENAPI_PATH = Path(__file__).with_name("openapi.json")


def manage(request: web.Request, what: str = "create or revoke links") -> None:
    """Creating and revoking links (and draining): the API key, or loopback only."""
    config = request.app[CONFIG]
    check_manage(request.remote, request.headers.get("Authorization"), config.api_key, what)
    if config.api_key is None:  # loopback-only: the browser on this machine must not be rebound here
        target = RequestTarget(config.host, config.public_url, config.base_url)
        target.check(request.headers.get("Host"), request.headers.get("Origin"))


def check_operator(request: web.Request, what: str) -> None:
    """``/metrics``, ``/stats``: the rule of link management (loopback, or the API key)."""
    manage(request, what)


async def create_link(request: web.Request) -> web.Response:
    manage(request)
    request.app[LIMITER].check(request.remote, request.app[LINKS].clock.now(), "new links")
    body = await json_object(request)
    only_fields(body, ("type", "title", "e2ee"))
    call_type = call_type_field(body)
    title = text_field(body, "title", required=False, min_len=0, max_len=100) or ""
    e2ee = bool_field(body, "e2ee")
    service = request.app[LINKS]
    token, link = await service.create("audio" if call_type == "audio" else "video", title, e2ee)
    return web.json_response(
        {
            "token": token,
            "url": service.url(token),
            "type": link.type,
            "title": link.title,
            "created_at": iso8601(link.created_at),
            "expires_at": iso8601(link.expires_at),
            "max_participants": link.max_participants,
            "e2ee": link.e2ee,
        },
        status=201,
        headers={"Location": f"/api/links/{token}"},
    )


async def show_link(request: web.Request) -> web.Response:
    return web.json_response(await request.app[LINKS].describe(request.match_info["token"]))


async def revoke_link(request: web.Request) -> web.Response:
    manage(request)
    await request.app[LINKS].revoke(request.match_info["token"])
    return web.Response(status=204)


async def join_link(request: web.Request) -> web.Response:
    service = request.app[LINKS]
    token = request.match_info["token"]
    link = await service.find(token)  # a dead link answers 404/410 before the body is judged
    request.app[LIMITER].check(request.remote, service.clock.now(), "joins")
    body = await json_object(request)
    only_fields(body, ("name", "e2ee"))
    name = text_field(body, "name", required=True, min_len=1, max_len=64)
    assert name is not None
    service.check_e2ee(link, bool_field(body, "e2ee"))
    grant = await service.join(link, name)
    config = request.app[CONFIG]
    return web.json_response(
        {
            "participant_id": grant.participant_id,
            "ws_url": grant.ws_url,
            "type": grant.type,
            "e2ee": link.e2ee,
            "ice_servers": ice_servers_for(config.ice_servers, config.turn_secret, grant.participant_id, service.clock.now()),
        }
    )


async def healthz(request: web.Request) -> web.Response:
    """Joins are accepted (the server answers once its SFU processes are up);
    ``workers``: one entry per SFU process, ``ready`` when it takes new calls."""
    describe = request.app.get(WORKERS)
    return web.json_response({"status": "ok", "workers": describe() if describe else []})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(json.loads(OPENAPI_PATH.read_text()))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/links", create_link)
    app.router.add_get("/api/links/{token}", show_link)
    app.router.add_delete("/api/links/{token}", revoke_link)
    app.router.add_post("/api/links/{token}/join", join_link)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/healthz", healthz)
