"""Baseline: the transcoding relay a Python user would write with aiortc.

Each published track goes through one ``MediaRelay`` (aiortc decodes it
once); every subscriber gets ``relay.subscribe(track)``, which its own
``RTCRtpSender`` encodes again (one VP8/Opus encoder per subscriber). It
speaks the same HTTP API and WebSocket signaling as callsfu (docs/protocol.md: the
subset a synthetic participant uses), so the same load drives both.

    python -m benchmarks.baselines.transcoding --port P

Benchmark-only: no auth, no expiry, no limits.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.rtcconfiguration import RTCBundlePolicy

log = logging.getLogger("transcoding")
_ids = itertools.count(1)


def new_pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


@dataclass
class Source:
    id: int
    participant_id: str
    kind: str
    track: MediaStreamTrack
    relay: MediaRelay


@dataclass
class Room:
    type: str
    sessions: dict[str, Session] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)


class Session:
    def __init__(self, room: Room, pid: str, name: str, ws: web.WebSocketResponse) -> None:
        self.room, self.pid, self.name, self.ws = room, pid, name, ws
        self.publish_pc: RTCPeerConnection | None = None
        self.subscribe_pc: RTCPeerConnection | None = None
        self.subscribed: dict[int, str] = {}  # source id -> mid
        self.sources: dict[str, Source] = {}  # mid -> source
        self.answer: asyncio.Future[str] | None = None
        self.negotiation: asyncio.Task[None] | None = None
        self.dirty = False

    async def send(self, message: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_str(json.dumps(message))

    async def on_publish(self, sdp: str) -> None:
        if self.publish_pc is None:
            self.publish_pc = pc = new_pc()

            @pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                if track.kind == "video" and self.room.type == "audio":
                    return
                self.room.sources.append(Source(next(_ids), self.pid, track.kind, track, MediaRelay()))
                for s in self.room.sessions.values():
                    if s is not self:
                        s.tracks_changed()

        pc = self.publish_pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send({"type": "publish_answer", "sdp": pc.localDescription.sdp})

    def tracks_changed(self) -> None:
        if self.negotiation is None or self.negotiation.done():
            self.negotiation = asyncio.get_running_loop().create_task(self.negotiate())
        else:
            self.dirty = True

    async def negotiate(self) -> None:
        try:
            await asyncio.sleep(0.05)
            while True:
                self.dirty = False
                new = [s for s in self.room.sources if s.participant_id != self.pid and s.id not in self.subscribed]
                if not new:
                    return
                if self.subscribe_pc is None:
                    self.subscribe_pc = new_pc()
                pc = self.subscribe_pc
                added = []
                for source in new:
                    t = pc.addTransceiver(source.relay.subscribe(source.track, buffered=False), direction="sendonly")
                    wanted = ("audio/opus",) if source.kind == "audio" else ("video/VP8", "video/rtx")
                    t.setCodecPreferences([c for c in RTCRtpSender.getCapabilities(source.kind).codecs if c.mimeType in wanted])
                    added.append((t, source))
                await pc.setLocalDescription(await pc.createOffer())
                for t, source in added:
                    self.subscribed[source.id] = str(t.mid)
                    self.sources[str(t.mid)] = source
                await self.send({"type": "tracks", "tracks": [
                    {"mid": mid, "participant_id": s.participant_id, "kind": s.kind} for mid, s in self.sources.items()]})
                self.answer = asyncio.get_running_loop().create_future()
                await self.send({"type": "subscribe", "sdp": pc.localDescription.sdp})
                sdp = await asyncio.wait_for(self.answer, 30)
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
                if not self.dirty:
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("negotiation failed for %s", self.pid)

    async def close(self) -> None:
        if self.negotiation is not None:
            self.negotiation.cancel()
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                await pc.close()
        self.room.sessions.pop(self.pid, None)
        self.room.sources = [s for s in self.room.sources if s.participant_id != self.pid]


def make_app() -> web.Application:
    rooms: dict[str, Room] = {}
    tickets: dict[str, tuple[str, str, str]] = {}  # ticket -> (token, participant id, name)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        token = secrets.token_urlsafe(16)
        rooms[token] = Room(body.get("type", "video"))
        return web.json_response({"token": token, "url": f"/call/{token}", "type": rooms[token].type}, status=201)

    async def join(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token not in rooms:
            return web.json_response({"error": {"code": "link_not_found", "message": "no such link"}}, status=404)
        body = await request.json()
        pid, ticket = secrets.token_hex(8), secrets.token_urlsafe(16)
        tickets[ticket] = (token, pid, body.get("name", ""))
        host = request.host
        return web.json_response({"participant_id": pid, "ws_url": f"ws://{host}/ws/{ticket}",
                                  "type": rooms[token].type, "ice_servers": []})  # fmt: skip

    async def ws_handler(request: web.Request) -> web.StreamResponse:
        entry = tickets.pop(request.match_info["ticket"], None)
        if entry is None:
            raise web.HTTPForbidden()
        token, pid, name = entry
        room = rooms[token]
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        session = Session(room, pid, name, ws)
        await session.send({"type": "welcome", "participant_id": pid, "call": {"type": room.type, "title": ""},
                            "participants": [{"id": s.pid, "name": s.name} for s in room.sessions.values()]})  # fmt: skip
        room.sessions[pid] = session
        session.tracks_changed()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                m = json.loads(msg.data)
                if m.get("type") == "publish":
                    await session.on_publish(m["sdp"])
                elif m.get("type") == "subscribe_answer" and session.answer and not session.answer.done():
                    session.answer.set_result(m["sdp"])
                elif m.get("type") == "leave":
                    break
        finally:
            await session.close()
        return ws

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/links", create)
    app.router.add_post("/api/links/{token}/join", join)
    app.router.add_get("/ws/{ticket}", ws_handler)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from aioice import ice

    ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []  # loopback only
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    web.run_app(make_app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
