"""An SFU worker process: whole calls on its own UDP port and core.

``callsfu serve --workers N`` starts N of these (``python -m control.workers.process``,
which sets up logging as the front does and runs :func:`serve`).
The front process owns the public HTTP(S) port, the store and the tickets;
it redeems a participant's ticket itself, then proxies the WebSocket to the
worker hosting the call over a private unix socket, with the
:class:`~sfu.admission.Admission` in a header. Media (ICE/DTLS/SRTP) goes
straight to the worker's UDP port, whose candidates its SDP carries.

On the same socket, ``GET /control`` is the front's one control WebSocket:
the worker reports its load there twice a second, forwards its calls'
webhook events and takes orders (``end_call``, ``drain``, ``observe``); these
messages are keyed ``op``, never ``type``: none is signaling. When that socket closes (the front is gone) the
worker exits. SIGTERM drains it: every participant is asked to ``rejoin``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import signal
import time
from typing import Any

from aiohttp import WSMsgType, web

from sfu import collector
from sfu.admission import ADMISSION_HEADER, Admission, Refused, admission_from_header
from sfu.endpoints import MediaEndpoints
from sfu.node import SfuNode
from sfu.observe import Observer
from sfu.signaling.messages import SignalingError

log = logging.getLogger("callsfu.worker")

REPORT_INTERVAL = 0.5  # seconds between load reports to the front
FRONT_TICK = 0.5  # the front says something on the control socket at least this often
FRONT_STALL = 1.5  # a longer gap: the front stalled
_NODE: web.AppKey[SfuNode] = web.AppKey("node", SfuNode)
_STOP: web.AppKey[asyncio.Event] = web.AppKey("stop", asyncio.Event)
_ENDPOINTS: web.AppKey[MediaEndpoints] = web.AppKey("endpoints", MediaEndpoints)
_EVENTS: web.AppKey["asyncio.Queue[dict[str, Any]]"] = web.AppKey("events")


class FrontGatekeeper:
    """The front process redeems tickets and frees seats; the worker trusts
    the admissions it is handed on its private socket (a WHIP publisher's is
    parked here under a one-time key for :class:`MediaEndpoints` to redeem)."""

    def __init__(self) -> None:
        self.parked: dict[str, Admission] = {}

    def park(self, admission: Admission) -> str:
        key = secrets.token_urlsafe(16)
        self.parked[key] = admission
        return key

    async def redeem(self, ticket: str) -> Admission | None:
        return self.parked.pop(ticket, None)

    async def release(self, admission: Admission) -> None:
        return None


async def _ws(request: web.Request) -> web.StreamResponse:
    try:
        admission = admission_from_header(request.headers.get(ADMISSION_HEADER, ""))
    except ValueError as exc:
        return web.json_response({"error": {"code": "bad_request", "message": str(exc)}}, status=400)
    return await request.app[_NODE].handle_admitted(request, admission)


async def _control(request: web.Request) -> web.StreamResponse:
    node = request.app[_NODE]
    endpoints = request.app[_ENDPOINTS]
    events = request.app[_EVENTS]
    ws = web.WebSocketResponse(heartbeat=None, max_msg_size=0)
    await ws.prepare(request)
    assert node.mux is not None
    await ws.send_json({"op": "hello", "pid": os.getpid(), "udp_port": node.mux.port})

    async def report() -> None:
        while not ws.closed:
            load = node.report(time.monotonic())
            await ws.send_json({"op": "load", "draining": node.draining, "resources": list(endpoints.resources), **load})
            await asyncio.sleep(REPORT_INTERVAL)

    async def forward_events() -> None:  # the calls' webhook events, in order
        while not ws.closed:
            event = await events.get()
            await ws.send_json({"op": "event", **event})

    tasks = [asyncio.ensure_future(report()), asyncio.ensure_future(forward_events())]
    try:
        heard = time.monotonic()
        async for msg in ws:
            now = time.monotonic()
            if now - heard > FRONT_STALL:  # the front's loop (or its CPU) stalled: its clients' pongs sat there
                excuse_silence(node, now - heard - FRONT_TICK)
            heard = now
            if msg.type != WSMsgType.TEXT:
                continue
            order: dict[str, Any] = json.loads(msg.data)
            kind = order.get("op")
            if kind == "end_call":
                asyncio.ensure_future(node.end_call(str(order["call_id"]), str(order["reason"])))
            elif kind == "drain":
                asyncio.ensure_future(node.drain(str(order.get("reason", "worker_draining"))))
            elif kind == "observe":
                await ws.send_json({"op": "snapshot", "id": order["id"], "snapshot": node.snapshot()})
    finally:
        for task in tasks:
            task.cancel()
        request.app[_STOP].set()  # the front is gone (or let go of us): stop
    return ws


def excuse_silence(node: SfuNode, seconds: float) -> None:
    """The front carried nothing for ``seconds``: that is not the clients'
    silence (else one stall of the front would drop everyone on this worker)."""
    for call in list(node.calls.values()):
        for session in list(call.sessions.values()):
            session._last_heard += seconds


async def _media(request: web.Request) -> web.Response:
    """WHIP (``/whip``: a publisher, with its admission) and WHEP (``/whep``: a
    viewer of the call the admission names) for the front's media API."""
    endpoints = request.app[_ENDPOINTS]
    body = await request.json()
    try:
        admission = admission_from_header(json.dumps(body["admission"]))
        sdp = str(body["sdp"])
    except (KeyError, TypeError, ValueError) as exc:
        return web.json_response({"error": {"code": "bad_request", "message": str(exc)}}, status=400)
    try:
        if request.path == "/whip":
            gatekeeper = endpoints.node.gatekeeper
            assert isinstance(gatekeeper, FrontGatekeeper)
            rid, answer = await endpoints.publish(gatekeeper.park(admission), sdp)
        else:
            rid, answer = await endpoints.view(admission, sdp)
    except Refused as exc:
        return web.json_response({"refused": {"code": exc.code, "message": exc.message}})
    except SignalingError as exc:
        return web.json_response({"signaling": {"code": exc.code, "message": exc.message}})
    return web.json_response({"rid": rid, "answer": answer})


async def _end(request: web.Request) -> web.Response:
    body = await request.json()
    ended = await request.app[_ENDPOINTS].end(str(body["rid"]), str(body["call_id"]))
    return web.json_response({"ended": ended})


async def serve(
    socket_path: str, ice_hosts: list[str], udp_port: int, index: int = 0, max_viewers: int = 100, loudest_audio: int = 3
) -> None:
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    node = SfuNode(
        gatekeeper=FrontGatekeeper(), ice_hosts=ice_hosts, udp_port=udp_port,
        on_event=lambda type_, data: events.put_nowait({"event": type_, "data": data}), loudest_audio=loudest_audio,
    )  # fmt: skip
    node.observer = Observer(worker_id=index)
    port = await node.start()
    app = web.Application(client_max_size=1024 * 1024)
    app[_NODE] = node
    app[_ENDPOINTS] = endpoints = MediaEndpoints(node, max_viewers)
    app[_EVENTS] = events
    app[_STOP] = stop = asyncio.Event()
    app.router.add_get("/ws", _ws)
    app.router.add_get("/control", _control)
    app.router.add_post("/whip", _media)
    app.router.add_post("/whep", _media)
    app.router.add_post("/end", _end)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    site = web.UnixSite(runner, socket_path)
    await site.start()
    os.chmod(socket_path, 0o600)
    loop = asyncio.get_running_loop()
    terminated = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, terminated.set)
    loop.add_signal_handler(signal.SIGINT, lambda: None)  # the front stops us (a ^C reaches the group)
    log.info("worker %d ready: media on UDP port %d", os.getpid(), port)
    log.info(collector.settle())
    done = {loop.create_task(stop.wait()), loop.create_task(terminated.wait())}
    await asyncio.wait(done, return_when=asyncio.FIRST_COMPLETED)
    if terminated.is_set():
        log.info("worker %d: SIGTERM, moving its calls elsewhere", os.getpid())
        await node.drain("worker_draining")
    for task in done:
        task.cancel()
    await endpoints.close()
    await node.close()
    await runner.cleanup()
