"""One participant's signaling session (PROTOCOL.md, "Joining").

Two peer connections: **publish** (the client offers, we answer) and
**subscribe** (we offer everyone else's tracks, the client answers; at most
one offer outstanding, changes meanwhile go into the next one).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import WSMsgType, web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from sfu.admission import Admission
from sfu.call import Call
from sfu.routing.forwarder import Inbound, Outlet
from sfu.routing.layout import Kind, Slot, SubscriberLayout
from sfu.rtc.egress import hook_sender
from sfu.rtc.ingress import Ingress
from sfu.rtc.reports import SenderReports
from sfu.rtc.silent_track import SilentTrack
from sfu.rtc.sink import TransportSink
from sfu.signaling.sdp_check import check_publish_offer
from sfu.signaling.messages import Leave, Publish, SignalingError, SubscribeAnswer, parse_client_message

log = logging.getLogger("callsfu.sfu")

PING_INTERVAL = 1.0  # seconds between WebSocket pings to the client
SILENCE_LIMIT = 4.0  # a client silent this long (no pong, no message) is gone
ANSWER_TIMEOUT = 15.0  # a client that never answers a subscribe offer is dropped
NEGOTIATION_DELAY = 0.05  # seconds to gather track changes into one subscribe offer
CODECS = {"audio": ("audio/opus",), "video": ("video/vp8", "video/rtx")}


def new_peer_connection() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


def restrict_codecs(transceiver: RTCRtpTransceiver) -> bool:
    """Answer with Opus / VP8 (+RTX) only; False when the offer has none of them."""
    kind = transceiver.kind
    media = [c for c in transceiver._codecs if c.mimeType.lower() == CODECS[kind][0]]
    if not media:
        return False
    pts = {c.payloadType for c in media}
    rtx = [c for c in transceiver._codecs if c.mimeType.lower() == "video/rtx" and c.parameters.get("apt") in pts]
    transceiver._codecs = media[:1] + [c for c in rtx if c.parameters.get("apt") == media[0].payloadType]
    return True


class Session:
    def __init__(self, admission: Admission, ws: web.WebSocketResponse, call: Call) -> None:
        self.admission = admission
        self.ws = ws
        self.call = call
        self.pid = admission.participant_id
        self.ingress = Ingress(self.pid, call.forwarder, call.publish)
        self.publish_pc: RTCPeerConnection | None = None
        self.subscribe_pc: RTCPeerConnection | None = None
        self.layout = SubscriberLayout()
        self.outlets: list[Outlet[TransportSink]] = []
        self.reports = SenderReports()
        self._sinks: dict[int, TransportSink] = {}  # one per DTLS transport (all bundled: one)
        self.transceivers: list[RTCRtpTransceiver] = []
        self._answer: asyncio.Future[str] | None = None
        self._negotiation: asyncio.Task[None] | None = None
        self._dirty = False
        self.closed = asyncio.Event()
        self._closing = False
        self._last_heard = time.monotonic()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._writer = asyncio.get_running_loop().create_task(self._write())

    # -- outbound messages -----------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        """Queue a message; one writer keeps them in order."""
        self._outbox.put_nowait(message)

    async def _write(self) -> None:
        while True:
            message = await self._outbox.get()
            try:
                if not self.ws.closed:
                    await self.ws.send_json(message)
            except (ConnectionError, RuntimeError):
                pass
            finally:
                self._outbox.task_done()

    async def flush(self) -> None:
        """Wait until everything queued so far has been written."""
        try:
            await asyncio.wait_for(self._outbox.join(), 2.0)
        except asyncio.TimeoutError:
            pass

    def error(self, code: str, message: str) -> None:
        self.send({"type": "error", "code": code, "message": message})

    # -- the session's life ---------------------------------------------------------
    async def run(self) -> None:
        self.send(
            {
                "type": "welcome",
                "participant_id": self.pid,
                "call": {"type": self.call.type, "title": self.call.title},
                "participants": self.call.roster(exclude=self.pid),
            }
        )
        self.call.join(self)
        self.tracks_changed()
        watchdog = asyncio.get_running_loop().create_task(self._watch_liveness())
        try:
            await self._read()
        finally:
            watchdog.cancel()

    async def _watch_liveness(self) -> None:
        """Ping every second; close once the client has been silent too long.

        A socket torn down is noticed at once; this catches a client that
        vanished without a word (network gone, machine asleep)."""
        while not self.ws.closed:
            await asyncio.sleep(PING_INTERVAL)
            if time.monotonic() - self._last_heard > SILENCE_LIMIT:
                log.info("%s silent for %.0f s: gone", self.pid, SILENCE_LIMIT)
                await self.ws.close()
                return
            try:
                await self.ws.ping()
            except (ConnectionError, RuntimeError):
                return

    async def _read(self) -> None:
        async for msg in self.ws:
            self._last_heard = time.monotonic()
            if msg.type == WSMsgType.PING:
                await self.ws.pong(msg.data)
                continue
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    self.error("bad_request", "Messages are JSON text, not binary.")
                continue
            try:
                parsed = parse_client_message(msg.data)
                if isinstance(parsed, Leave):
                    break
                if isinstance(parsed, Publish):
                    await self._on_publish(parsed.sdp)
                elif isinstance(parsed, SubscribeAnswer):
                    self._on_subscribe_answer(parsed.sdp)
            except SignalingError as exc:
                self.error(exc.code, exc.message)

    async def close(self) -> None:
        if self._closing:
            await self.closed.wait()
            return
        self._closing = True
        self.call.leave(self)
        for outlet in self.outlets:  # stop forwarding to this subscriber at once
            self.call.forwarder.attach(outlet, None, time.monotonic())
        for sink in self._sinks.values():
            sink.close()
        self.reports.close()
        if self._negotiation is not None:
            self._negotiation.cancel()
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                await pc.close()
        if not self.ws.closed:
            await self.flush()
            await self.ws.close()
        self._writer.cancel()
        self.closed.set()

    # -- publish: the client offers ---------------------------------------------------
    async def _on_publish(self, sdp: str) -> None:
        if self.publish_pc is None:
            self.publish_pc = pc = new_peer_connection()
            self._watch(pc)
        pc = self.publish_pc
        check_publish_offer(sdp, [(t.kind, t.mid) for t in pc.getTransceivers()])
        known = set(map(id, pc.getTransceivers()))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as exc:
            raise SignalingError("bad_sdp", f"The publish offer was refused: {exc or type(exc).__name__}.") from None
        for t in pc.getTransceivers():
            if id(t) in known:
                continue
            kind: Kind = "audio" if t.kind == "audio" else "video"
            if (kind == "video" and self.call.type == "audio") or not restrict_codecs(t):
                t.direction = "inactive"  # an audio call forwards no video
                continue
            t.direction = "recvonly"
            self.ingress.hook_receiver(t.receiver, kind)
        try:
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            raise SignalingError("bad_sdp", f"Could not answer the publish offer: {exc or type(exc).__name__}.") from None
        self.send({"type": "publish_answer", "sdp": pc.localDescription.sdp})

    # -- subscribe: we offer ------------------------------------------------------------
    def tracks_changed(self) -> None:
        if self._negotiation is None or self._negotiation.done():
            self._negotiation = asyncio.get_running_loop().create_task(self._negotiate())
        else:
            self._dirty = True

    def _on_subscribe_answer(self, sdp: str) -> None:
        if self._answer is None or self._answer.done():
            raise SignalingError("unexpected_answer", "There is no subscribe offer waiting for an answer.")
        self._answer.set_result(sdp)

    async def _negotiate(self) -> None:
        try:
            await asyncio.sleep(NEGOTIATION_DELAY)  # a burst of joins becomes one offer
            while True:
                self._dirty = False
                change = self.layout.update(self.call.tracks_for(self.pid))
                if not change or not self.call.sessions.get(self.pid) is self:
                    return
                await self._offer(change.added)
                if not self._dirty:
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("subscribe negotiation failed for %s", self.pid)
            self.error("negotiation_failed", "The server could not renegotiate your subscription; rejoin the call.")
            await self.ws.close()

    async def _offer(self, added: list[Slot]) -> None:
        if self.subscribe_pc is None:
            self.subscribe_pc = new_peer_connection()
            self._watch(self.subscribe_pc)
        pc = self.subscribe_pc
        for slot in added:
            t = pc.addTransceiver(SilentTrack(slot.kind), direction="sendonly")
            caps = RTCRtpSender.getCapabilities(slot.kind)
            t.setCodecPreferences([c for c in caps.codecs if c.mimeType.lower() in CODECS[slot.kind]])
            dtls = t.sender.transport
            sink = self._sinks.get(id(dtls))
            if sink is None:
                sink = self._sinks[id(dtls)] = TransportSink(dtls)
            outlet: Outlet[TransportSink] = Outlet(slot.kind, sink)
            hook_sender(t.sender, outlet, self.call.forwarder, self.call.request_keyframe, self.reports)
            self.transceivers.append(t)
            self.outlets.append(outlet)
        wanted: list[tuple[Outlet[TransportSink], Inbound[TransportSink] | None]] = []
        for slot in self.layout.slots:
            t, outlet = self.transceivers[slot.index], self.outlets[slot.index]
            inbound = self.call.inbounds.get(slot.source) if slot.source is not None else None
            t.direction = "sendonly" if inbound is not None else "inactive"
            if inbound is not outlet.source:
                # stop at once; start only once the subscriber has accepted the
                # offer (until then a reused section is disabled on its side and
                # would drop the keyframe the new source starts with)
                self._attach(outlet, None)
                wanted.append((outlet, inbound))
        await pc.setLocalDescription(await pc.createOffer())
        self._send_tracks()
        self._answer = asyncio.get_running_loop().create_future()
        self.send({"type": "subscribe", "sdp": pc.localDescription.sdp})
        sdp = await asyncio.wait_for(self._answer, ANSWER_TIMEOUT)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        for outlet, inbound in wanted:
            if inbound is not None and self.call.inbounds.get(inbound.key) is inbound:
                self._attach(outlet, inbound)

    def _attach(self, outlet: Outlet[TransportSink], inbound: Inbound[TransportSink] | None) -> None:
        packets, want_keyframe = self.call.forwarder.attach(outlet, inbound, time.monotonic())
        for sink, packet in packets:
            sink.send(packet)
        if want_keyframe and inbound is not None:
            self.call.request_keyframe(inbound)

    def _send_tracks(self) -> None:
        tracks = [
            {"mid": self.transceivers[s.index].mid, "participant_id": s.source.participant_id, "kind": s.kind}
            for s in self.layout.active()
            if s.source is not None
        ]
        self.send({"type": "tracks", "tracks": tracks})

    def _watch(self, pc: RTCPeerConnection) -> None:
        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "failed" and not self.ws.closed:
                self.error("ice_failed", "Your media connection failed; rejoin the call.")
                await self.ws.close()
