"""The app factory: control plane + SFU node in one aiohttp application."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator

from aiohttp import web

from control import media_api, operator, web_client
from control.api import CONFIG, LIMITER, LINKS, add_routes
from control.ratelimit import RateLimiter
from control.clock import Clock, SystemClock
from control.config import Config
from control.errors import ApiError, json_errors
from control.headers import add_security_headers
from control.links import NODE_TTL, LinkService
from control.metrics import Metrics, http_middleware
from control.webhooks import Webhooks
from control.store.base import LinkStore
from sfu.endpoints import MediaEndpoints
from sfu.node import SfuNode
from sfu.observe import merge

log = logging.getLogger("callsfu")

SFU: web.AppKey[SfuNode] = web.AppKey("sfu", SfuNode)


def open_store(config: Config) -> LinkStore:
    if config.store and config.store.startswith(("redis://", "rediss://", "unix://")):
        from control.store.redis import RedisStore

        return RedisStore.from_url(config.store, node_id=config.node_id, default_node_id=config.default_node_id)
    if config.store and not config.store.startswith("sqlite"):
        raise ValueError(f"--store must be redis://host:port/db or sqlite, not {config.store!r}")
    from control.store.sqlite import SqliteStore

    return SqliteStore.in_dir(config.data_dir)


def create_app(
    config: Config, *, clock: Clock | None = None, store: LinkStore | None = None
) -> web.Application:
    metrics = Metrics()
    app = web.Application(middlewares=[http_middleware(metrics), json_errors], client_max_size=64 * 1024)
    app[CONFIG] = config
    app[operator.METRICS] = metrics
    app[operator.OBSERVE] = _no_sfu_yet
    webhooks = Webhooks(config.webhook_urls, config.webhook_secret, count=lambda outcome: metrics.webhooks.labels(outcome).inc())
    app[LIMITER] = RateLimiter(config.rate_limit)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        the_store = store if store is not None else open_store(config)
        await the_store.clear_seats()
        await the_store.heartbeat(NODE_TTL)  # alive before the first seat is redeemed through it
        service = LinkService(config, the_store, clock or SystemClock())
        webhooks.start()
        service.on_event = webhooks.emit
        node = SfuNode(gatekeeper=service, ice_hosts=config.ice_host, udp_port=config.udp_port, on_event=webhooks.emit,
            loudest_audio=config.loudest_audio,
        )
        udp_port = await node.start()
        print(f"callsfu media (ICE/DTLS/SRTP) on UDP port {udp_port}", flush=True)
        service.media = node
        app[LINKS] = service
        app[SFU] = node
        app[media_api.ENDPOINTS] = endpoints = MediaEndpoints(node, config.max_viewers)
        service.viewers = endpoints.viewer_count
        app[operator.OBSERVE] = node.observe
        loop = asyncio.get_running_loop()
        background = [
            loop.create_task(service.follow_revocations(lambda: node.calls.keys())),
            loop.create_task(service.keep_calls(lambda: node.calls.keys())),
        ]
        yield
        for task in background:
            task.cancel()
        await node.close()
        await webhooks.close()  # (after the calls' last events were queued: a moment to deliver them)
        await the_store.close()

    app.cleanup_ctx.append(lifecycle)
    add_security_headers(app, config)
    add_routes(app)
    media_api.add_routes(app)
    operator.add_routes(app)
    app.router.add_get("/ws/{ticket}", _ws)
    web_client.add_routes(app)
    return app


async def _ws(request: web.Request) -> web.StreamResponse:
    # Judge the upgrade before the ticket: redeeming it uses it up, so a plain
    # GET (a link preview, a crawler, a mistyped curl) must not get that far.
    if not web.WebSocketResponse().can_prepare(request).ok:
        raise ApiError(
            "bad_request",
            "This address is a WebSocket: connect to it with a WebSocket client (GET with"
            " 'Connection: Upgrade' and 'Upgrade: websocket'); a plain request leaves the ticket unused.",
        )
    return await request.app[SFU].handle_ws(request, request.match_info["ticket"])


async def _no_sfu_yet() -> dict[str, Any]:
    return merge([])
