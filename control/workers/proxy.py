"""A participant's WebSocket, carried from the public port to its call's worker.

Why a proxy and not passing the socket (SCM_RIGHTS): under ``--tls-cert`` the
TLS session lives in the front process and cannot be handed over with the
file descriptor; the proxy also outlives the worker, so when a worker dies the
front still tells each of its participants to ``rejoin`` (a passed socket
would just drop). Only signaling crosses it (media goes straight to the
worker's UDP port): a few messages a second per participant, each one extra
unix-socket hop (benchmarks/workers.py measures it).

The front redeems the ticket (a bad one is refused before the upgrade, as
always), places the call, opens the worker's side first (so that a worker's
refusal, ``409 call_full``, is still the answer to the upgrade), then copies
frames both ways, pings and pongs included (the worker's session pings the
client itself). Backpressure carries through: a client that does not read
stalls the copy, the worker's queue for it grows, and the worker drops it.
The seat is freed once the worker's side is closed (the worker has let go
of the participant by then).
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import WSMsgType, web

from control.links import LinkService
from control.workers.pool import WorkerPool
from sfu.admission import ADMISSION_HEADER, admission_header
from sfu.signaling.messages import MAX_MESSAGE

log = logging.getLogger("callsfu.workers")

UPSTREAM_TIMEOUT = 10.0  # seconds to open the worker's side
CLOSE_TIMEOUT = 1.0  # a closing client gets this long for its last messages (as sfu.session gives it)


def _refusal(code: str, message: str, status: int) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def proxy_ws(request: web.Request, ticket: str, service: LinkService, pool: WorkerPool) -> web.StreamResponse:
    admission = await service.redeem(ticket)
    if admission is None:
        return _refusal(
            "forbidden",
            "This join ticket is unknown, used or expired; join again with POST /api/links/TOKEN/join.",
            403,
        )
    placement = pool.place(admission.call_id)
    if placement is None:
        await service.release(admission)
        return _refusal("unavailable", "No SFU worker can take this call right now; join again in a moment.", 503)
    pool.placements.connect(placement)
    try:
        worker = placement.worker
        try:
            assert worker.http is not None
            upstream = await worker.http.ws_connect(
                "http://worker/ws",
                headers={ADMISSION_HEADER: admission_header(admission)},
                autoping=False,
                max_msg_size=0,  # the worker is ours; the client's direction is bounded below
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT),
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 409:
                n = admission.max_participants
                return _refusal("call_full", f"This call is full ({n} of {n}); try again when someone leaves.", 409)
            return _refusal("unavailable", "The SFU worker for this call is not taking joins now; join again.", 503)
        except (aiohttp.ClientError, OSError, AssertionError, asyncio.TimeoutError):
            return _refusal("unavailable", "The SFU worker for this call is gone; join again.", 503)
        ws = web.WebSocketResponse(autoping=False, max_msg_size=MAX_MESSAGE, timeout=CLOSE_TIMEOUT)
        try:
            await ws.prepare(request)
        except Exception:
            await upstream.close()
            raise
        first = await _carry(ws, upstream)
        log.info("%s left through %s (client close %s, worker close %s)", admission.participant_id, first, ws.close_code, upstream.close_code)
        return ws
    finally:
        pool.placements.disconnect(placement)
        await service.release(admission)


async def _carry(ws: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> str:
    """Copy both ways until one side ends; close the other. Returns which ended first."""
    up = asyncio.ensure_future(_pipe(ws, upstream))
    down = asyncio.ensure_future(_pipe(upstream, ws))
    try:
        done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        first = "the client" if up in done else "the worker"
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                first += f" ({task.exception()!r})"
    finally:
        up.cancel()
        down.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
    if not upstream.closed:  # the client left: the worker's session leaves the call
        try:
            await asyncio.wait_for(upstream.close(), CLOSE_TIMEOUT * 2)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError):
            pass
    if not ws.closed:
        if upstream.close_code in (None, 1006):  # the worker died (or dropped the socket)
            await _send(ws, '{"type": "rejoin", "reason": "worker_lost"}')
        code = upstream.close_code if upstream.close_code not in (None, 1006) else 1012  # 1012: service restart
        try:
            await asyncio.wait_for(ws.close(code=code), CLOSE_TIMEOUT)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError):
            pass
    if ws._req is not None and ws._req.transport is not None:
        ws._req.transport.abort()  # whatever it did not take is thrown away, not kept waiting
    return first


async def _send(ws: web.WebSocketResponse, text: str) -> None:
    try:
        await asyncio.wait_for(ws.send_str(text), CLOSE_TIMEOUT)
    except (asyncio.TimeoutError, ConnectionError, RuntimeError):
        pass


Socket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse


async def _pipe(source: Socket, sink: Socket) -> None:
    """Relay every frame from ``source`` to ``sink`` (client to worker, or back)."""
    async for msg in source:
        if msg.type == WSMsgType.TEXT:
            await sink.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        elif msg.type == WSMsgType.PING:
            await sink.ping(msg.data)
        elif msg.type == WSMsgType.PONG:
            await sink.pong(msg.data)
        else:  # ERROR: a broken frame (too big...), that side is gone
            return
