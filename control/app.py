"""The app factory: the control plane, and the SFU in this process (``--workers 0``)
or in worker processes behind it (``--workers N``, control/workers)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterable

from aiohttp import web

from control import media_api, operator, web_client
from control.api import CONFIG, LIMITER, LINKS, WORKERS, add_routes, manage
from control.ratelimit import RateLimiter
from control.clock import Clock, SystemClock
from control.config import Config
from control.errors import ApiError, json_errors
from control.headers import add_security_headers
from control.links import NODE_TTL, LinkService
from control.metrics import Metrics, http_middleware
from control.webhooks import Webhooks
from control.store.base import LinkStore
from control.validation import json_object, only_fields
from control.workers.endpoints import RemoteEndpoints
from control.workers.pool import WorkerPool
from control.workers.proxy import proxy_ws
from sfu.observe import merge

if TYPE_CHECKING:
    from sfu.node import SfuNode

log = logging.getLogger("callsfu")

SFU: web.AppKey[SfuNode] = web.AppKey("sfu")  # in-process (--workers 0)
POOL: web.AppKey[WorkerPool] = web.AppKey("pool", WorkerPool)  # --workers N
MEDIA: web.AppKey[Any] = web.AppKey("media")  # whichever of the two
DRAIN_WAIT = 5.0  # seconds a node shutting down (SIGTERM) gives its people to move to another node


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
    app[WORKERS] = lambda: workers_of(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        the_store = store if store is not None else open_store(config)
        await the_store.clear_seats()
        if hasattr(the_store, "url"):
            the_store.url = config.ws_base_url  # where other nodes send the joins of calls it hosts
        await the_store.heartbeat(NODE_TTL)  # alive before the first seat is redeemed through it
        service = LinkService(config, the_store, clock or SystemClock())
        webhooks.start()
        service.on_event = webhooks.emit
        app[LINKS] = service
        media: SfuNode | WorkerPool
        if config.workers:
            media = pool = WorkerPool(
                config.workers, udp_port=config.udp_port, ice_hosts=config.ice_host, forwarding=config.forwarding,
                log_level=config.log_level, log_format=config.log_format, max_viewers=config.max_viewers,
                loudest_audio=config.loudest_audio,
                on_event=webhooks.emit,
            )  # fmt: skip
            await pool.start()
            ports = ", ".join(str(w.udp_port) for w in pool.workers)
            print(f"callsfu media (ICE/DTLS/SRTP): {config.workers} workers on UDP ports {ports}", flush=True)
            hosted: Callable[[], Iterable[str]] = pool.hosted
            app[POOL] = pool
            app[media_api.ENDPOINTS] = endpoints = RemoteEndpoints(pool, service)
            pool.endpoints = endpoints
            app[operator.OBSERVE] = pool.observe
        else:
            from sfu.endpoints import MediaEndpoints  # (here: a front process of workers needs no aiortc)
            from sfu.node import SfuNode

            media = node = SfuNode(
                gatekeeper=service, ice_hosts=config.ice_host, udp_port=config.udp_port, on_event=webhooks.emit,
                loudest_audio=config.loudest_audio,
            )  # fmt: skip
            udp_port = await node.start()
            print(f"callsfu media (ICE/DTLS/SRTP) on UDP port {udp_port}", flush=True)
            hosted = node.calls.keys
            app[SFU] = node
            app[media_api.ENDPOINTS] = endpoints = MediaEndpoints(node, config.max_viewers)  # type: ignore[assignment]
            app[operator.OBSERVE] = node.observe
        service.media = media
        service.viewers = endpoints.viewer_count
        loop = asyncio.get_running_loop()
        background = [
            loop.create_task(service.follow_revocations(hosted)),
            loop.create_task(service.keep_calls(hosted)),
            loop.create_task(service.keep_alive()),
        ]
        app[MEDIA] = media
        yield
        for task in background:
            task.cancel()
        await media.close()
        await webhooks.close()  # (after the calls' last events were queued: a moment to deliver them)
        await the_store.close()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(_move_calls_before_stopping)
    add_security_headers(app, config)
    add_routes(app)
    media_api.add_routes(app)
    operator.add_routes(app)
    app.router.add_get("/ws/{ticket}", _ws)
    app.router.add_post("/drain", _drain)
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
    pool = request.app.get(POOL)
    if pool is not None:
        return await proxy_ws(request, request.match_info["ticket"], request.app[LINKS], pool)
    return await request.app[SFU].handle_ws(request, request.match_info["ticket"])


async def _no_sfu_yet() -> dict[str, Any]:
    return merge([])


def workers_of(app: web.Application) -> list[dict[str, object]]:
    """``/healthz``'s list: one entry per SFU process (this one, in-process)."""
    pool = app.get(POOL)
    if pool is not None:
        return pool.describe()
    node = app.get(SFU)
    if node is None:
        return []
    report = node.report(time.monotonic())
    return [{"id": 0, "pid": os.getpid(), "ready": not node.draining, "calls": report["calls"], "participants": report["participants"]}]


async def _drain(request: web.Request) -> web.Response:
    """``callsfu drain``: stop placing calls on one worker (``{"worker": I}``) or
    on this whole node (``{}``), and ask everyone in its calls to rejoin
    elsewhere. A drained worker is replaced by a fresh one once empty."""
    manage(request)
    body = await json_object(request)
    only_fields(body, ("worker",))
    worker = body.get("worker")
    if worker is not None and (isinstance(worker, bool) or not isinstance(worker, int)):
        raise ApiError("bad_request", "'worker' must be a worker's id (an integer, see /healthz).")
    pool = request.app.get(POOL)
    if pool is not None:
        if worker is None:
            await request.app[LINKS].drain_node()
        try:
            moved = await (pool.drain() if worker is None else pool.drain_worker(worker))
        except ValueError as exc:
            raise ApiError("bad_request", str(exc)) from None
    else:
        if worker not in (None, 0):
            raise ApiError("bad_request", f"there is no worker {worker} (this server runs its SFU in-process: worker 0)")
        node = request.app[SFU]
        moved = sum(len(c.sessions) for c in node.calls.values())
        if worker is None:
            await request.app[LINKS].drain_node()
        asyncio.ensure_future(node.drain("node_draining" if worker is None else "worker_draining"))
    return web.json_response({"draining": "node" if worker is None else f"worker {worker}", "participants": moved})


async def _move_calls_before_stopping(app: web.Application) -> None:
    """SIGTERM with a shared store: other nodes take this node's calls. It
    stops being placed on, lets go of its calls and asks everyone in them to
    rejoin (they land on a live node), and waits a moment for them to go.
    With SQLite there is nowhere else: the calls end (``server_shutdown``)."""
    service, media = app.get(LINKS), app.get(MEDIA)
    if service is None or media is None or not hasattr(service.store, "release_claims"):
        return
    await service.drain_node()
    log.info("shutting down: moving this node's calls to the other nodes")
    await media.drain("node_draining")
    deadline = time.monotonic() + DRAIN_WAIT
    while time.monotonic() < deadline and any(w["participants"] for w in workers_of(app)):
        await asyncio.sleep(0.1)
