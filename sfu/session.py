"""One participant's signaling session (docs/protocol.md, "Joining").

Two peer connections: **publish** (the client offers, we answer) and
**subscribe** (we offer everyone else's tracks, the client answers; at most
one offer outstanding, changes meanwhile go into the next one).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import secrets
import time
from collections import deque
from typing import Any, Awaitable, Callable

from aiohttp import WSMsgType, web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpCodecCapability, RTCRtpSender, RTCSessionDescription
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from sfu import observe
from sfu.admission import Admission
from sfu.logcontext import PARTICIPANT
from sfu.call import Call
from sfu.routing.forwarder import Inbound, Outlet
from sfu.core.simulcast import Bandwidth
from sfu.routing.layers import ViewSize, initial_layer, plan
from sfu.routing.layout import Kind, Slot, SubscriberLayout, TrackKey
from sfu.routing.view import source_of
from sfu.rtc.egress import hook_sender
from sfu.rtc.ingress import Ingress
from sfu.rtc.receiver_state import drop_idle_receiver, receivers_without_receive_path
from sfu.rtc import sdp_reuse
from sfu.rtc.reports import SenderReports
from sfu.rtc.silent_track import SilentTrack
from sfu.rtc.sink import TransportSink
from sfu.signaling.budget import MessageBudget, Verdict
from sfu.signaling.sdp_check import check_publish_offer, check_subscribe_answer
from sfu.signaling.simulcast_sdp import add_to_answer, read_offer
from sfu.signaling.sources import resolve_sources
from sfu.signaling.messages import Leave, Publish, SignalingError, SubscribeAnswer, View, parse_client_message

log = logging.getLogger("callsfu.sfu")

PING_INTERVAL = 1.0  # seconds between WebSocket pings to the client
SILENCE_LIMIT = 4.0  # a client silent this long (no pong to our pings, no valid message) is gone
OUTBOX_LIMIT = 1024 * 1024  # bytes queued towards a client that does not read; over it, it is dropped
BACKLOG_LIMIT = 64 * 1024  # bytes in the socket's send buffer past which we stop pinging / ponging
CLOSE_TIMEOUT = 1.0  # seconds a closing client gets to take its last messages and the close frame
RELEASE_TIMEOUT = 3.0  # seconds for the store to free a seat
ANSWER_TIMEOUT = 15.0  # a client that never answers a subscribe offer is dropped
NEGOTIATION_DELAY = 0.05  # seconds to gather track changes into one subscribe offer
CODECS = {"audio": ("audio/opus",), "video": ("video/vp8", "video/rtx")}


@functools.cache
def offered_codecs(kind: Kind) -> list[RTCRtpCodecCapability]:
    """What a subscriber section offers (Opus; VP8 and its RTX), looked up once per kind."""
    return [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.lower() in CODECS[kind]]


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


Release = Callable[[], Awaitable[None]]


class Session:
    require_candidates = True  # a publish offer must carry its ICE candidates (no trickle)

    def __init__(
        self, admission: Admission, ws: web.WebSocketResponse, call: Call, release: Release | None = None
    ) -> None:
        self.admission = admission
        self.ws = ws
        self.call = call
        self._release = release
        req = getattr(ws, "_req", None)  # the HTTP request the socket was upgraded from
        self._transport: asyncio.Transport | None = req.transport if req is not None else None
        self.pid = admission.participant_id
        self.ingress = Ingress(self.pid, call.forwarder, call.publish)
        self.publish_pc: RTCPeerConnection | None = None
        self._sources: dict[str, str] = {}  # publish mid -> microphone | camera | screen
        self.subscribe_pc: RTCPeerConnection | None = None
        self.layout = SubscriberLayout()
        self.outlets: list[Outlet[TransportSink]] = []
        self.reports = SenderReports()
        self.bandwidth = Bandwidth()  # from the subscriber's REMB: its simulcast layers' budget
        self.view_size: ViewSize = self._view_size  # the tile size it shows a track at (simulcast layer choice)
        self._sinks: dict[int, TransportSink] = {}  # one per DTLS transport (all bundled: one)
        self.transceivers: list[RTCRtpTransceiver] = []
        self._answer: asyncio.Future[str] | None = None
        self._negotiation: asyncio.Task[None] | None = None
        self._dirty = False
        self._changed_at: float | None = None  # the first change not offered yet (its offer may wait: arrivals)
        self.closed = asyncio.Event()
        self._closing = False
        self._last_heard = time.monotonic()
        self._admitted_at = self._last_heard  # join latency: to the first media connection up
        self._pings: deque[bytes] = deque(maxlen=int(SILENCE_LIMIT / PING_INTERVAL) + 1)
        self.budget = MessageBudget()
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._queued = 0  # bytes of messages queued and not yet handed to the socket
        # this participant's context: every task it starts names them in its log
        # lines, also when someone else's join or publish sets the task going
        PARTICIPANT.set(self.pid)
        self._context = contextvars.copy_context()
        self._writer = asyncio.get_running_loop().create_task(self._write(), context=self._context)

    # -- outbound messages -----------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        """Queue a message; one writer keeps them in order. A client that lets
        more than OUTBOX_LIMIT bytes pile up (it does not read) is dropped."""
        if self._closing and self.ws.closed:
            return
        text = json.dumps(message)
        if self._queued + len(text) > OUTBOX_LIMIT:
            if self._transport is not None and not self._transport.is_closing():
                log.info("%s does not read its messages (%d bytes queued): dropped", self.pid, self._queued)
            self.abort()
            return
        self._queued += len(text)
        self._outbox.put_nowait(text)

    async def _write(self) -> None:
        while True:
            text = await self._outbox.get()
            try:
                if not self.ws.closed:
                    await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                pass
            finally:
                self._queued -= len(text)
                self._outbox.task_done()

    async def flush(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Wait (at most ``timeout`` s) until everything queued so far has been written."""
        try:
            await asyncio.wait_for(self._outbox.join(), timeout)
        except asyncio.TimeoutError:
            pass

    def abort(self) -> None:
        """Drop the client at once: no closing handshake, nothing more is sent."""
        if self._transport is not None:
            self._transport.abort()

    def _backlog(self) -> int:
        t = self._transport
        return 0 if t is None else t.get_write_buffer_size()

    def error(self, code: str, message: str) -> None:
        self.send({"type": "error", "code": code, "message": message})

    # -- the session's life ---------------------------------------------------------
    async def run(self) -> None:
        self.send(
            {
                "type": "welcome",
                "participant_id": self.pid,
                "call": {"type": self.call.type, "title": self.call.title, "e2ee": self.call.e2ee},
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
            slept_from = time.monotonic()
            await asyncio.sleep(PING_INTERVAL)
            late = time.monotonic() - slept_from - PING_INTERVAL
            if late > PING_INTERVAL / 2:
                # the event loop itself stalled: the client's pongs may sit
                # unread in our socket. That time is not the client's silence
                # (else one stall of the node would drop everyone on it).
                self._last_heard += late
                continue
            if time.monotonic() - self._last_heard > SILENCE_LIMIT:
                log.info("%s silent for %.0f s: gone", self.pid, SILENCE_LIMIT)
                self.abort()
                return
            if self._backlog() > BACKLOG_LIMIT:
                continue  # it does not read: a ping would only wait on it
            token = secrets.token_bytes(8)  # only a pong echoing one of ours counts
            self._pings.append(token)
            try:
                await asyncio.wait_for(self.ws.ping(token), PING_INTERVAL)
            except asyncio.TimeoutError:
                continue
            except (ConnectionError, RuntimeError):
                return

    async def _read(self) -> None:
        async for msg in self.ws:
            now = time.monotonic()
            size = len(msg.data) if isinstance(msg.data, (str, bytes)) else 0
            verdict = self.budget.take(size, now)
            if verdict is Verdict.DROP:
                log.info("%s keeps sending over its message budget: dropped", self.pid)
                self.abort()
                return
            if verdict is Verdict.WARN:
                self.error(
                    "too_many_messages",
                    f"Too many messages (at most {self.budget.rate:.0f} a second); they are ignored, and the"
                    " connection is closed if this goes on.",
                )
            if verdict is not Verdict.OK:
                continue
            if msg.type == WSMsgType.PONG:
                if msg.data in self._pings:  # junk frames do not keep a client alive
                    self._last_heard = now
                continue
            if msg.type == WSMsgType.PING:
                if self._backlog() <= BACKLOG_LIMIT:
                    try:
                        await asyncio.wait_for(self.ws.pong(msg.data), PING_INTERVAL)
                    except (asyncio.TimeoutError, ConnectionError, RuntimeError):
                        pass
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
                    await self._on_publish(parsed.sdp, parsed.sources)
                elif isinstance(parsed, SubscribeAnswer):
                    self._on_subscribe_answer(parsed.sdp)
                elif isinstance(parsed, View):
                    self._on_view(parsed)
                self._last_heard = now
            except SignalingError as exc:
                self.error(exc.code, exc.message)

    async def close(self) -> None:
        """Leave the call; never waits on the client longer than CLOSE_TIMEOUT.

        Order: out of the call and its forwarding, the seat freed, the peer
        connections closed, then a bounded goodbye on the socket (aborted if the
        client does not take it)."""
        if self._closing:
            await self.closed.wait()
            return
        self._closing = True
        try:
            self.call.leave(self)
            for outlet in self.outlets:  # stop forwarding to this subscriber at once
                self.call.forwarder.attach(outlet, None, time.monotonic())
            for sink in self._sinks.values():
                sink.close()
            self.reports.close()
            if self._negotiation is not None:
                self._negotiation.cancel()
            await self._free_seat()
            for pc in (self.publish_pc, self.subscribe_pc):
                if pc is not None:
                    await _bounded(pc.close(), CLOSE_TIMEOUT, f"closing {self.pid}'s peer connection")
            if not self.ws.closed:
                await self.flush(CLOSE_TIMEOUT)
                try:
                    await asyncio.wait_for(self.ws.close(), CLOSE_TIMEOUT)
                except (asyncio.TimeoutError, ConnectionError, RuntimeError):
                    pass
            self.abort()  # what it did not take is thrown away, not kept waiting
        finally:
            self._writer.cancel()
            self.closed.set()

    async def _free_seat(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            await _bounded(release(), RELEASE_TIMEOUT, f"freeing {self.pid}'s seat")

    # -- publish: the client offers ---------------------------------------------------
    async def _on_publish(self, sdp: str, sources: dict[str, str] | None = None) -> None:
        if self.publish_pc is None:
            self.publish_pc = pc = new_peer_connection()
            self._watch(pc)
        pc = self.publish_pc
        offered = check_publish_offer(sdp, [(t.kind, t.mid) for t in pc.getTransceivers()], self.require_candidates)
        source_of = resolve_sources(sources, offered, self._sources)
        simulcast = read_offer(sdp) if self.call.type == "video" else {}
        for mid, offer in simulcast.items():  # (a section's layers, once read, stay as they were)
            self.ingress.simulcast.setdefault(mid, offer)
        known = set(map(id, pc.getTransceivers()))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as exc:
            log.info("publish offer of %s refused by aiortc: %r", self.pid, exc)  # the client gets a sentence
            raise SignalingError(
                "bad_sdp",
                "The publish offer was refused: the server could not apply it (each section needs a codec it"
                " forwards, Opus for audio and VP8 for video, and the offer must come in a stable state).",
            ) from None
        for t in pc.getTransceivers():
            if id(t) in known:
                # aiortc renegotiated its codecs from the re-offer: keep them ours
                if t.direction != "inactive" and not restrict_codecs(t):
                    t.direction = "inactive"
                if t._offerDirection not in ("recvonly", "sendrecv"):
                    # the publisher stopped sending this section (a screen share ended)
                    inbound = self.ingress.withdraw(t.receiver)
                    if inbound is not None:
                        self.call.unpublish(inbound)
                continue
            kind: Kind = "audio" if t.kind == "audio" else "video"
            if (kind == "video" and self.call.type == "audio") or not restrict_codecs(t):
                t.direction = "inactive"  # an audio call forwards no video
                continue
            t.direction = "recvonly"
            source = source_of.get(str(t.mid), "microphone" if kind == "audio" else "camera")
            self._sources[str(t.mid)] = source
            self.ingress.hook_receiver(t.receiver, kind, "screen" if source == "screen" else "")
        try:
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            log.info("no answer to the publish offer of %s: %r", self.pid, exc)
            raise SignalingError(
                "bad_sdp", "Could not answer the publish offer; offer Opus audio and VP8 video, then publish again."
            ) from None
        accepted = [
            self.ingress.simulcast[t.mid]
            for t in pc.getTransceivers()
            if t.kind == "video" and t.direction == "recvonly" and t.mid in simulcast and t.mid in self.ingress.simulcast
        ]  # (aiortc starts the receivers, which build the layers, only once DTLS is up)
        self.send({"type": "publish_answer", "sdp": add_to_answer(pc.localDescription.sdp, accepted)})
        self.call.expect(self.pid, self._accepted_tracks(pc))

    def _accepted_tracks(self, pc: RTCPeerConnection) -> list[TrackKey]:
        """The tracks the publish answer accepts (they arrive once its connection is up)."""
        return [
            TrackKey(self.pid, "audio" if t.kind == "audio" else "video", "screen" if self._sources.get(str(t.mid)) == "screen" else "")
            for t in pc.getTransceivers()
            if t.direction == "recvonly"
        ]

    # -- subscribe: we offer ------------------------------------------------------------
    def tracks_changed(self) -> None:
        if self._changed_at is None:
            self._changed_at = time.monotonic()
        if self._negotiation is None or self._negotiation.done():
            self._negotiation = asyncio.get_running_loop().create_task(self._negotiate(), context=self._context)
        else:
            self._dirty = True

    def _on_subscribe_answer(self, sdp: str) -> None:
        if self._answer is None or self._answer.done() or self.subscribe_pc is None:
            raise SignalingError("unexpected_answer", "There is no subscribe offer waiting for an answer.")
        parsed = check_subscribe_answer(sdp, [(t.kind, t.mid) for t in self.subscribe_pc.getTransceivers()])
        sdp_reuse.remember(sdp, parsed)  # aiortc's setRemoteDescription parses it next: once is enough
        self._answer.set_result(sdp)

    async def _negotiate(self) -> None:
        try:
            await asyncio.sleep(NEGOTIATION_DELAY)  # a burst of joins becomes one offer
            while True:
                await self._wait_for_arrivals()
                self._dirty = False
                self._changed_at = None  # what changes from here on goes into the next offer
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
            await self.flush()
            self.abort()

    async def _wait_for_arrivals(self) -> None:
        """While others' tracks are on their way (a join storm), wait for them,
        at most OFFER_HOLD after the change that prompted this offer: one
        offer then carries them all, instead of one renegotiation each."""
        while True:
            now = time.monotonic()
            changed_at = now if self._changed_at is None else self._changed_at
            until = self.call.arrivals.offer_at(changed_at, now, exclude=self.pid)
            if until is None:
                return
            try:
                await asyncio.wait_for(self.call.arrived.wait(), until - now)
            except asyncio.TimeoutError:
                pass

    async def _offer(self, added: list[Slot]) -> None:
        if self.subscribe_pc is None:
            self.subscribe_pc = new_peer_connection()
            self._watch(self.subscribe_pc)
        pc = self.subscribe_pc
        for slot in added:
            with receivers_without_receive_path():  # a sendonly section never receives
                t = pc.addTransceiver(SilentTrack(slot.kind), direction="sendonly")
            drop_idle_receiver(t.receiver)  # (what the swap does not cover)
            t.setCodecPreferences(offered_codecs(slot.kind))
            dtls = t.sender.transport
            sink = self._sinks.get(id(dtls))
            if sink is None:
                sink = self._sinks[id(dtls)] = TransportSink(dtls, owner=self.pid)
                dtls._callsfu_participant = self.pid  # type: ignore[attr-defined]  # for the mux's log lines
            outlet: Outlet[TransportSink] = Outlet(slot.kind, sink)
            hook_sender(
                t.sender, outlet, self.call.forwarder, self.call.request_keyframe, self.reports, self.call.deliver,
                self._on_remb,
            )
            self.transceivers.append(t)
            self.outlets.append(outlet)
        wanted: list[tuple[Outlet[TransportSink], Inbound[TransportSink] | None]] = []
        for slot in self.layout.slots:
            t, outlet = self.transceivers[slot.index], self.outlets[slot.index]
            inbound = self.call.inbounds.get(slot.source) if slot.source is not None else None
            t.direction = "sendonly" if inbound is not None else "inactive"
            if not _same_track(inbound, outlet.source):
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
        forwarder, now = self.call.forwarder, time.monotonic()
        if inbound is not None:  # (outlet has no source here: this only sets whether it starts)
            forwarder.pause(outlet, not forwarder.views.shows(self.pid, inbound.key), now)
        if inbound is not None and inbound.layers:
            inbound = initial_layer(inbound, self.view_size(inbound.key), now)
        packets, want_keyframe = forwarder.attach(outlet, inbound, now)
        self.call.deliver(packets)
        if want_keyframe and inbound is not None:
            self.call.request_keyframe(inbound)

    # -- simulcast ------------------------------------------------------------------
    def _on_remb(self, bitrate: float) -> None:
        self.bandwidth.on_remb(bitrate, time.monotonic())

    def update_layers(self, now: float) -> None:
        """Move each simulcast tile to the layer its size and our bandwidth call for
        (at that layer's next keyframe, asked for now)."""
        forwarder = self.call.forwarder
        for outlet, layer in plan(self.outlets, self.view_size, self.bandwidth, now):
            if forwarder.switch_layer(outlet, layer, now):
                self.call.request_keyframe(layer)

    # -- view: what the client shows ---------------------------------------------------
    def _view_size(self, key: TrackKey) -> tuple[int, int] | None:
        return self.call.forwarder.view_size(self.pid, key.participant_id, source_of(key))

    def _on_view(self, view: View) -> None:
        """Forward only the videos the client shows; a video shown again
        starts at once from its last keyframe."""
        forwarder, now = self.call.forwarder, time.monotonic()
        forwarder.views.set(self.pid, view.videos)
        for outlet in self.outlets:
            inbound = outlet.source
            if inbound is None or inbound.kind != "video":
                continue
            packets, want_keyframe = forwarder.pause(outlet, not forwarder.views.shows(self.pid, inbound.key), now)
            self.call.deliver(packets)
            if want_keyframe:
                self.call.request_keyframe(inbound)

    def _send_tracks(self) -> None:
        tracks = [
            {
                "mid": self.transceivers[s.index].mid,
                "participant_id": s.source.participant_id,
                "kind": s.kind,
                "source": s.source.source_name,
            }
            for s in self.layout.active()
            if s.source is not None
        ]
        self.send({"type": "tracks", "tracks": tracks})

    def _watch(self, pc: RTCPeerConnection) -> None:
        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected" and self._admitted_at is not None:
                observe.observe_join(time.monotonic() - self._admitted_at)
                self._admitted_at = None
            if pc.connectionState == "failed" and not self.ws.closed:
                self.error("ice_failed", "Your media connection failed; rejoin the call.")
                await self.flush()
                self.abort()


def _same_track(a: Inbound[TransportSink] | None, b: Inbound[TransportSink] | None) -> bool:
    """The same Inbound, or two simulcast layers of one track."""
    return a is b or (a is not None and b is not None and a.layers is not None and a.layers is b.layers)


async def _bounded(work: Awaitable[None], timeout: float, what: str) -> None:
    """Await ``work`` for at most ``timeout`` s; a failure is logged, never raised."""
    try:
        await asyncio.wait_for(work, timeout)
    except asyncio.TimeoutError:
        log.warning("%s took over %.0f s; given up", what, timeout)
    except Exception:
        log.exception("%s failed", what)
