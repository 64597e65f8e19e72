"""Synthetic participants, run in worker processes (not in the SFU's).

Each worker process runs one asyncio loop with several participants and
obeys commands from the benchmark over a pipe (join, status, mark, stop).
Participants publish pre-encoded media (see ``media.py``) through aiortc
senders and receive without decoding. Two receive paths (``RECEIVER``):

- ``socket`` (the default): SRTP packets are taken in the subscribe
  connection's own datagram callback, before aioice's queue and aiortc's DTLS
  coroutine, and counted from their header, which SRTP leaves in the clear
  (SSRC, sequence number: loss per SSRC). Only a sample is decrypted with the
  connection's real SRTP session (every ``DECRYPT_EVERY``-th packet, and
  every video packet until a keyframe was seen and one was decoded): that
  sample gives the latency. ICE, DTLS and RTCP go on to aioice and aiortc as
  before, so the SFU sees real peers. A third of the other path's CPU per
  received packet (``benchmarks/receiver_path.py``), a fifth without the
  event-loop trip both pay: that is what should let two worker processes on
  this machine receive a 32-person meeting (~54k packets/s);
- ``aiortc``: every packet goes through aiortc's receive path and
  ``RTCDtlsTransport._handle_rtp_data`` is replaced by the counter: every
  packet decrypted and timed.

Latency: publishers note the send time of every packet under the identity of
its payload (CRC-32 + length; an SFU forwards the payload bytes unchanged) in
a table of shared memory inherited by every worker (``fork``); a receiver
looks up the payload of what it gets. Same machine, same monotonic clock.

Two signaling drivers: ``callsfu`` (docs/protocol.md; the transcoding baseline
speaks it too) and ``janus`` (VideoRoom over Janus's HTTP API).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mmap
import os
import random
import re
import socket
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import numpy as np
import pylibsrtp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCSessionDescription
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters

from benchmarks.bigcall import SILENT_LEVEL, first_named_after, stamp_levels, view_message
from benchmarks.media import PROFILES, LoopTrack, decode_vp8_frame, encode_opus, payload_key, rtp_payload, vp8_keyframe_start
from benchmarks.simulcast_media import CLIP, FrameSizes, SimulcastCamera
from sfu import collector
from sfu.rtc import fingerprints
from sfu.rtc.receiver_state import receivers_without_receive_path

RECEIVER = "socket"  # or "aiortc" (see above); set before the workers fork
DECRYPT_EVERY = 8  # the socket path decrypts (and times) one packet in this many
RCVBUF = 4 * 1024 * 1024  # each subscribe connection's socket (the kernel caps it at net.core.rmem_max)
EARLY_SRTP = 1024  # SRTP held per connection until its DTLS keys are there (a replay is up to 512 packets)

# -- the shared send-time table -------------------------------------------------------
TABLE_BITS = 18
TABLE_MASK = (1 << TABLE_BITS) - 1
_table_mem = mmap.mmap(-1, (1 << TABLE_BITS) * 16)  # anonymous, MAP_SHARED: shared with forked workers
KEYS = np.frombuffer(_table_mem, dtype=np.int64, count=1 << TABLE_BITS)
TIMES = np.frombuffer(_table_mem, dtype=np.float64, count=1 << TABLE_BITS, offset=(1 << TABLE_BITS) * 8)


def use_loopback_only() -> None:
    from aioice import ice

    ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []


def new_pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


VP8_RTPMAP = re.compile(r"^a=rtpmap:(\d+) VP8/90000", re.MULTILINE | re.IGNORECASE)


# -- counters ------------------------------------------------------------------------------
class Stream:
    """One received SSRC: packets and the highest extended sequence number."""

    __slots__ = ("received", "highest", "last", "prev_received", "prev_highest")

    def __init__(self, seq: int) -> None:
        self.received = 1
        self.highest = seq
        self.last = seq
        self.prev_received = 0
        self.prev_highest = seq - 1


class Stats:
    def __init__(self) -> None:
        self.rx_packets = 0
        self.rx_bytes = 0
        self.tx_packets = 0
        self.tx_bytes = 0
        self.streams: list[Stream] = []
        self.latency: list[float] = []  # audio (or anything not VP8)
        self.latency_video: list[float] = []
        self.srtp_errors = 0  # sampled packets the real SRTP session refused
        self.sample: list[bytes] | None = None  # one keyframe's payloads, to decode once
        self.sample_done = False
        self.prev = (0, 0, 0, 0)

    def mark(self) -> dict[str, Any]:
        """Counters since the previous mark."""
        d_recv = d_exp = 0
        for s in self.streams:
            d_recv += s.received - s.prev_received
            d_exp += s.highest - s.prev_highest
            s.prev_received, s.prev_highest = s.received, s.highest
        now = (self.rx_packets, self.rx_bytes, self.tx_packets, self.tx_bytes)
        out = {
            "rx_packets": now[0] - self.prev[0],
            "rx_bytes": now[1] - self.prev[1],
            "tx_packets": now[2] - self.prev[2],
            "tx_bytes": now[3] - self.prev[3],
            "received": d_recv,
            "expected": d_exp,
            "latency_audio": np.asarray(self.latency, dtype=np.float32),
            "latency_video": np.asarray(self.latency_video, dtype=np.float32),
            "srtp_errors": self.srtp_errors,
        }
        self.prev = now
        self.latency = []
        self.latency_video = []
        return out


@dataclass
class Spec:
    """One synthetic participant."""

    name: str
    index: int
    video: str | None = None  # a PROFILES key, simulcast_media.CLIP (three layers), or None
    audio: bool = False
    subscribe: bool = True
    driver: str = "callsfu"  # or "janus"
    target: dict[str, Any] = field(default_factory=dict)  # callsfu: base, token; janus: url, room
    feeds: list[int] = field(default_factory=list)  # janus: the publishers to subscribe to
    level: int | None = None  # bigcall: its audio carries this RFC 6464 level while speaking, 127 otherwise
    speaking: bool = False
    view: list[str] = field(default_factory=list)  # bigcall: the names whose video it shows (a `view`)
    expected_streams: int = 0  # when RTP from this many SSRCs arrived: "every other participant"


class Participant:
    def __init__(self, spec: Spec, worker: Worker) -> None:
        self.spec = spec
        self.worker = worker
        self.stats = worker.stats
        self.publish_pc: RTCPeerConnection | None = None
        self.subscribe_pc: RTCPeerConnection | None = None
        self.video_track: LoopTrack | SimulcastCamera | None = None
        self.video_pts: set[int] = set()
        self.rx_bytes = 0  # this receiver's download (the worker's Stats add up everyone's)
        self._rx_bytes_marked = 0
        self.frame_sizes = FrameSizes(self.video_pts) if spec.view else None  # bigcall: each tile's picture size
        self.ssrcs: set[int] = set()
        self.join_started = 0.0
        self.joined_at: float | None = None
        self.first_frame_at: float | None = None
        self.feed_id: int | None = None
        self.error: str | None = None
        self._hooked_rx = False
        self._note: Any = None  # the receive counter, made by hook_rx
        self.offers = 0  # subscribe offers received (renegotiations)
        self._tasks: list[asyncio.Task[Any]] = []
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.ids: dict[str, str] = {}  # name -> participant id (welcome, participant_joined)
        self.speakers_log: list[tuple[float, list[str]]] = []  # (arrival, speakers) of each `speakers`
        self.welcome_at: float | None = None
        self.all_streams_at: float | None = None  # RTP from expected_streams SSRCs arrived
        self.phases: dict[str, float] = {}  # a join's steps, when each first (or, `_last`, last) happened

    def phase(self, name: str, last: bool = False) -> None:
        """Note when a step of this participant's join happened (``phases_ms``: from `welcome`)."""
        now = time.monotonic()
        if last:
            self.phases[name + "_last"] = now
        self.phases.setdefault(name, now)

    def phases_ms(self) -> dict[str, float]:
        if self.welcome_at is None:
            return {}
        return {k: round((v - self.welcome_at) * 1000, 1) for k, v in self.phases.items()}

    def take_rx_bytes(self) -> int:
        """Bytes received since the last call (a ``mark``)."""
        delta, self._rx_bytes_marked = self.rx_bytes - self._rx_bytes_marked, self.rx_bytes
        return delta

    # -- media helpers ------------------------------------------------------------------
    def publish_tracks(self, pc: RTCPeerConnection) -> None:
        if self.spec.audio:
            t = pc.addTransceiver(LoopTrack("audio", self.worker.opus(self.spec.index), 0.02, 48000), direction="sendonly")
            t.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType == "audio/opus"])
            if self.spec.level is not None:
                spec = self.spec
                stamp_levels(t.sender, lambda: spec.level if spec.speaking else SILENT_LEVEL)
        if self.spec.video == CLIP:
            self.video_track = SimulcastCamera(pc, self.worker.clips)  # its offer: join_callsfu
        elif self.spec.video:
            profile = PROFILES[self.spec.video]
            self.video_track = LoopTrack("video", self.worker.clips[self.spec.video], 1 / profile.fps, 90000)
            t = pc.addTransceiver(self.video_track, direction="sendonly")
            t.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in ("video/VP8", "video/rtx")])
            track = self.video_track
            t.sender._send_keyframe = track.request_keyframe  # PLI/FIR restarts the loop at its keyframe

    def hook_tx(self, pc: RTCPeerConnection) -> None:
        stats, keys, times, mask = self.stats, KEYS, TIMES, TABLE_MASK
        for dtls in {id(t.sender.transport): t.sender.transport for t in pc.getTransceivers()}.values():
            original = dtls._send_rtp

            async def send_rtp(data: bytes, original: Any = original) -> None:
                key = payload_key(data)
                if key >= 0:
                    slot = (key >> 16) & mask  # CRC bits: lengths repeat
                    keys[slot] = key
                    times[slot] = time.monotonic()
                stats.tx_packets += 1
                stats.tx_bytes += len(data)
                await original(data)

            dtls._send_rtp = send_rtp

    def hook_rx(self, pc: RTCPeerConnection) -> None:
        """Count, check continuity and delay; nothing goes on to aiortc's receivers."""
        if self._hooked_rx:
            return
        self._hooked_rx = True
        self.count_on(pc.getTransceivers()[0].receiver.transport)

    def count_on(self, dtls: Any) -> None:
        """The counter, as ``dtls``'s ``_handle_rtp_data`` (the aiortc path)."""
        streams: dict[int, Stream] = {}
        stats, keys, times, mask = self.stats, KEYS, TIMES, TABLE_MASK
        monotonic = time.monotonic
        video_pts = self.video_pts
        sizes = self.frame_sizes

        def note(data: bytes, plain: bytes | None, size: int, now: float) -> None:
            """``data``'s clear header counts; ``plain`` (None: not decrypted) is timed."""
            ssrc = int.from_bytes(data[8:12], "big")
            seq = (data[2] << 8) | data[3]
            s = streams.get(ssrc)
            if s is None:
                s = streams[ssrc] = Stream(seq)
                stats.streams.append(s)
                self.ssrcs.add(ssrc)
                if sizes is not None:
                    sizes.seen(ssrc, data[1] & 0x7F)
                self.phases.setdefault("rtp_in_first", now)
                if self.all_streams_at is None and self.spec.expected_streams and len(self.ssrcs) >= self.spec.expected_streams:
                    self.all_streams_at = now
            else:
                s.received += 1
                delta = (seq - s.last) & 0xFFFF
                if delta < 0x8000:
                    s.highest += delta
                    s.last = seq
            stats.rx_packets += 1
            stats.rx_bytes += size
            self.rx_bytes += size
            if plain is None:
                return
            if sizes is not None:
                sizes.note(plain, rtp_payload)
            key = payload_key(plain)
            if key >= 0:
                slot = (key >> 16) & mask  # CRC bits: lengths repeat
                if keys[slot] == key:
                    (stats.latency_video if (plain[1] & 0x7F) in video_pts else stats.latency).append(now - times[slot])
            if (plain[1] & 0x7F) in video_pts and (self.first_frame_at is None or stats.sample is not None):
                self._video_packet(plain, now)

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            if len(data) >= 12:
                note(data, data, len(data), monotonic())

        dtls._handle_rtp_data = handle_rtp_data
        self._note = note

    def hook_socket(self, pc: RTCPeerConnection) -> None:
        """The ``socket`` receive path (module docstring): SRTP taken in the
        datagram callback of every local candidate of the subscribe connection."""
        self.take_srtp_on(pc.getTransceivers()[0].receiver.transport)

    def take_srtp_on(self, dtls: Any) -> None:
        """Hook the datagram callbacks of ``dtls``'s ICE connection (after ``count_on``)."""
        note, stats, monotonic = self._note, self.stats, time.monotonic
        video_pts, every, sizes = self.video_pts, DECRYPT_EVERY, self.frame_sizes
        tag = [0]  # the SRTP trailer of this connection's profile, once known
        counter = [0]

        early: list[tuple[bytes, float]] = []  # SRTP before this end's DTLS is done

        def on_srtp(data: bytes) -> None:
            now = monotonic()
            srtp = dtls._rx_srtp
            if srtp is None:
                # the SFU's first SRTP (a keyframe replay) follows its last DTLS flight, which
                # still waits in aioice's queue: kept, as a browser's in-order stack would take
                # it, and counted once the keys are there (they were lost before, and the first
                # frame came with the next keyframe, ~1 s later)
                if len(early) < EARLY_SRTP:
                    early.append((data, now))
                return
            if early:
                held = early[:]
                early.clear()
                for old, at in held:
                    receive(old, at, srtp)
            receive(data, now, srtp)

        def receive(data: bytes, now: float, srtp: Any) -> None:
            counter[0] += 1
            plain = None
            keyframe_maybe = sizes is not None and sizes.wants(data)
            if (
                counter[0] % every == 0
                or keyframe_maybe
                or ((data[1] & 0x7F) in video_pts and (self.first_frame_at is None or not stats.sample_done))
            ):
                try:
                    plain = srtp.unprotect(data)
                except pylibsrtp.Error:
                    stats.srtp_errors += 1
                    return
                tag[0] = len(data) - len(plain)
            note(data, plain, len(data) - tag[0], now)

        for protocol in dtls.transport._connection._protocols:
            if getattr(protocol, "_bench_socket_path", False):
                continue
            protocol._bench_socket_path = True
            with contextlib.suppress(AttributeError, OSError):
                # while this worker's loop answers its participants' offers, a meeting's media
                # overflowed Linux's default 208 KiB here, and the SFU's DTLS flights with it
                # (OpenSSL retransmits after 1 s, then 2 s): as the SFU's own mux socket does
                protocol.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            original = protocol.datagram_received

            def datagram_received(data: bytes, addr: Any, original: Any = original) -> None:
                if len(data) >= 12 and 127 < data[0] < 192 and not 191 < data[1] < 209:
                    on_srtp(data)  # SRTP (not SRTCP): counted here, never queued
                else:
                    original(data, addr)  # STUN, DTLS, SRTCP: as aioice and aiortc do

            protocol.datagram_received = datagram_received

    def _video_packet(self, data: bytes, now: float) -> None:
        payload = rtp_payload(data)
        start = vp8_keyframe_start(payload)
        if self.first_frame_at is None and start:
            self.first_frame_at = now
        stats = self.stats
        if not stats.sample_done:
            if stats.sample is None and start:
                stats.sample = []
            if stats.sample is not None:
                stats.sample.append(bytes(payload))
                if data[1] & 0x80:  # marker: the frame is complete
                    stats.sample_done = True
                    self.worker.decoded = self.worker.decode_sample(stats.sample)
                    stats.sample = None

    def note_offer(self, sdp: str) -> None:
        """The VP8 payload types of the offer (``a=rtpmap:PT VP8/90000``: every offer is one of the SFU's)."""
        self.video_pts.update(int(pt) for pt in VP8_RTPMAP.findall(sdp))

    async def answer(self, sdp: str) -> str:
        if self.subscribe_pc is None:
            self.subscribe_pc = new_pc()
            self.on_connected(self.subscribe_pc, "subscribe_connected")
        pc = self.subscribe_pc
        self.note_offer(sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        self.hook_rx(pc)
        await pc.setLocalDescription(await pc.createAnswer())
        if RECEIVER == "socket":
            self.hook_socket(pc)  # (its local candidates exist now: gathered for the answer)
        return pc.localDescription.sdp

    def on_connected(self, pc: RTCPeerConnection, name: str) -> None:
        @pc.on("connectionstatechange")
        def changed() -> None:
            if pc.connectionState == "connected":
                self.phase(name)

    # -- callsfu signaling (docs/protocol.md) ----------------------------------------------------------
    async def join_callsfu(self) -> None:
        http = self.worker.http
        base, token = self.spec.target["base"], self.spec.target["token"]
        async with http.post(f"{base}/api/links/{token}/join", json={"name": self.spec.name}) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"join refused: {resp.status} {body}")
        self.ws = ws = await http.ws_connect(body["ws_url"], heartbeat=None, max_msg_size=0)
        welcome = json.loads((await ws.receive(timeout=30)).data)
        if welcome.get("type") != "welcome":
            raise RuntimeError(f"expected welcome, got {welcome}")
        self.welcome_at = time.monotonic()
        self.ids.update({p["name"]: p["id"] for p in welcome.get("participants", [])})

        async def send_view() -> None:
            if self.spec.view:
                await ws.send_str(json.dumps(view_message(self.spec.view, self.ids)))
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        lock = asyncio.Lock()

        async def read() -> None:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                m = json.loads(msg.data)
                if m["type"] == "publish_answer" and not answer.done():
                    answer.set_result(m["sdp"])
                elif m["type"] == "subscribe":
                    self.offers += 1
                    self.phase("offer_in", last=True)
                    async with lock:
                        self.phase("answering", last=True)
                        sdp = await self.answer(m["sdp"])
                    await ws.send_str(json.dumps({"type": "subscribe_answer", "sdp": sdp}))
                    self.phase("answer_out", last=True)
                elif m["type"] == "speakers":
                    self.speakers_log.append((time.monotonic(), list(m["speakers"])))
                elif m["type"] == "participant_joined":
                    self.ids[m["participant"]["name"]] = m["participant"]["id"]
                    if m["participant"]["name"] in self.spec.view:
                        await send_view()
                elif m["type"] in ("error", "ended"):
                    self.error = self.error or json.dumps(m)

        self._tasks.append(asyncio.get_running_loop().create_task(read()))
        await send_view()
        if self.spec.audio or self.spec.video:
            pc = self.publish_pc = new_pc()
            self.on_connected(pc, "publish_connected")
            self.publish_tracks(pc)
            await pc.setLocalDescription(await pc.createOffer())
            offer = pc.localDescription.sdp
            if isinstance(self.video_track, SimulcastCamera):
                offer = self.video_track.offer(offer)  # aiortc writes no a=rid / a=simulcast
            await ws.send_str(json.dumps({"type": "publish", "sdp": offer}))
            self.phase("publish_sent")
            publish_answer = await asyncio.wait_for(answer, 30)
            self.phase("publish_answer_in")
            await pc.setRemoteDescription(RTCSessionDescription(sdp=publish_answer, type="answer"))
            self.hook_tx(pc)

    # -- Janus VideoRoom over HTTP -------------------------------------------------------------------
    async def join_janus(self) -> None:
        self.janus = janus = JanusSession(self.worker.http, self.spec.target["url"])
        await janus.create()
        room = self.spec.target["room"]
        if self.spec.audio or self.spec.video:
            handle = await janus.attach()
            ev, _ = await janus.request(handle, {"request": "join", "ptype": "publisher", "room": room, "display": self.spec.name})
            self.feed_id = int(ev["id"])
            pc = self.publish_pc = new_pc()
            self.publish_tracks(pc)
            await pc.setLocalDescription(await pc.createOffer())
            body = {"request": "publish", "audio": self.spec.audio, "video": bool(self.spec.video)}
            _, jsep = await janus.request(handle, body, {"type": "offer", "sdp": pc.localDescription.sdp})
            if not jsep:
                raise RuntimeError("Janus sent no answer to the publish offer")
            await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="answer"))
            self.hook_tx(pc)
            deadline = time.monotonic() + 15  # Janus knows no feed until its WebRTC is up
            while pc.connectionState != "connected":
                if time.monotonic() > deadline or pc.connectionState in ("failed", "closed"):
                    raise RuntimeError(f"publish connection to Janus: {pc.connectionState}")
                await asyncio.sleep(0.05)
        if self.spec.feeds:
            await self.subscribe_janus(self.spec.feeds)

    async def subscribe_janus(self, feeds: list[int]) -> None:
        janus = self.janus
        handle = await janus.attach()
        body = {"request": "join", "ptype": "subscriber", "room": self.spec.target["room"],
                "streams": [{"feed": f} for f in feeds]}  # fmt: skip
        for attempt in range(40):
            try:
                _, jsep = await janus.request(handle, body)
                break
            except RuntimeError as exc:
                if "No such feed" not in str(exc) or attempt == 39:
                    raise
                await asyncio.sleep(0.25)  # the publisher's media is not up yet
        if not jsep:
            raise RuntimeError("Janus sent no subscribe offer")
        sdp = await self.answer(jsep["sdp"])
        await janus.request(handle, {"request": "start"}, {"type": "answer", "sdp": sdp})

    # -- life -------------------------------------------------------------------------------------
    async def join(self) -> None:
        self.join_started = time.monotonic()
        try:
            if self.spec.driver == "janus":
                await self.join_janus()
            else:
                await self.join_callsfu()
            self.joined_at = time.monotonic()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"[:500]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        janus = getattr(self, "janus", None)
        if janus is not None:
            await janus.destroy()
        if self.ws is not None and not self.ws.closed:
            try:
                await self.ws.send_str(json.dumps({"type": "leave"}))
                await asyncio.wait_for(self.ws.close(), 2)
            except Exception:
                pass
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                try:
                    await asyncio.wait_for(pc.close(), 5)
                except Exception:
                    pass


class JanusSession:
    """A Janus session: requests by transaction, events by long poll."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url
        self.session_id = 0
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.poller: asyncio.Task[None] | None = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(self.url + path, json=body) as resp:
            return await resp.json(content_type=None)  # type: ignore[no-any-return]

    @staticmethod
    def _tx() -> str:
        return "%016x" % random.getrandbits(64)

    async def create(self) -> None:
        reply = await self._post("", {"janus": "create", "transaction": self._tx()})
        if reply.get("janus") != "success":
            raise RuntimeError(f"Janus create: {reply}")
        self.session_id = reply["data"]["id"]
        self.poller = asyncio.get_running_loop().create_task(self._poll())

    async def attach(self) -> int:
        reply = await self._post(f"/{self.session_id}", {"janus": "attach", "plugin": "janus.plugin.videoroom", "transaction": self._tx()})
        if reply.get("janus") != "success":
            raise RuntimeError(f"Janus attach: {reply}")
        return int(reply["data"]["id"])

    async def request(self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
        tx = self._tx()
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[tx] = fut
        msg: dict[str, Any] = {"janus": "message", "transaction": tx, "body": body}
        if jsep:
            msg["jsep"] = jsep
        reply = await self._post(f"/{self.session_id}/{handle}", msg)
        if reply.get("janus") == "success":  # synchronous answer
            self.waiting.pop(tx, None)
            return reply["plugindata"]["data"], None
        if reply.get("janus") != "ack":
            self.waiting.pop(tx, None)
            raise RuntimeError(f"Janus {body.get('request')}: {reply}")
        event = await asyncio.wait_for(fut, 30)
        data = event.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise RuntimeError(f"Janus {body.get('request')}: {data['error']}")
        return data, event.get("jsep")

    async def _poll(self) -> None:
        while True:
            try:
                async with self.http.get(f"{self.url}/{self.session_id}?maxev=10", timeout=aiohttp.ClientTimeout(total=40)) as resp:
                    events = await resp.json(content_type=None)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.5)
                continue
            for event in events if isinstance(events, list) else [events]:
                fut = self.waiting.pop(event.get("transaction", ""), None)
                if fut is not None and not fut.done():
                    fut.set_result(event)

    async def destroy(self) -> None:
        if self.poller is not None:
            self.poller.cancel()
        try:
            await asyncio.wait_for(self._post(f"/{self.session_id}", {"janus": "destroy", "transaction": self._tx()}), 3)
        except Exception:
            pass


# -- the worker process ---------------------------------------------------------------------------
class Worker:
    def __init__(self, conn: Connection, clips: dict[str, list[bytes]]) -> None:
        self.conn = conn
        self.clips = clips
        self.stats = Stats()
        self.participants: list[Participant] = []
        self._opus: dict[int, list[bytes]] = {}
        self.decoded: str | None = None
        self.http: aiohttp.ClientSession

    def opus(self, index: int) -> list[bytes]:
        if index not in self._opus:
            self._opus[index] = encode_opus(index)
        return self._opus[index]

    @staticmethod
    def decode_sample(payloads: list[bytes]) -> str:
        try:
            return decode_vp8_frame(payloads)
        except Exception as exc:
            return f"error: {exc}"

    async def run(self) -> None:
        use_loopback_only()
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[Any] = asyncio.Queue()

        def readable() -> None:
            try:
                inbox.put_nowait(self.conn.recv())
            except EOFError:
                inbox.put_nowait(("stop",))
                loop.remove_reader(self.conn.fileno())

        loop.add_reader(self.conn.fileno(), readable)
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        try:
            while True:
                command = await inbox.get()
                try:
                    reply = await self.handle(command)
                except Exception:
                    reply = {"error": traceback.format_exc()[-2000:]}
                os.set_blocking(self.conn.fileno(), True)  # the loop made it non-blocking; replies can be large
                self.conn.send(reply)
                if command[0] == "stop":
                    return
        finally:
            await self.http.close()

    async def handle(self, command: tuple[Any, ...]) -> Any:
        what = command[0]
        if what == "join":
            specs: list[Spec] = command[1]
            batch: int = command[2]
            new = [Participant(s, self) for s in specs]
            for s in specs:
                # encoded here, before the storm: inside a join it blocked this worker's loop
                # for 35-40 ms a participant (16 of them: 0.6 s), between each `welcome` and
                # its publish offer (join_all_rtp_ms counts from `welcome`)
                if s.audio:
                    self.opus(s.index)
            self.participants.extend(new)
            sem = asyncio.Semaphore(batch)

            async def one(p: Participant) -> None:
                async with sem:
                    await p.join()

            await asyncio.gather(*(one(p) for p in new))
            return [{"name": p.spec.name, "feed": p.feed_id, "error": p.error} for p in new]
        if what == "subscribe_janus":  # (name, feeds) pairs
            by_name = {p.spec.name: p for p in self.participants}

            async def sub(name: str, feeds: list[int]) -> None:
                p = by_name[name]
                p.join_started = time.monotonic()
                try:
                    await p.subscribe_janus(feeds)
                except Exception as exc:
                    p.error = f"{type(exc).__name__}: {exc}"[:500]

            await asyncio.gather(*(sub(n, f) for n, f in command[1]))
            return [{"name": n, "error": by_name[n].error} for n, _ in command[1]]
        if what == "status":
            return [{"name": p.spec.name, "streams": len(p.ssrcs), "error": p.error, "offers": p.offers,
                     "first_frame_ms": None if p.first_frame_at is None else (p.first_frame_at - p.join_started) * 1000,
                     "all_rtp_ms": None if p.all_streams_at is None or p.welcome_at is None else (p.all_streams_at - p.welcome_at) * 1000,
                     "phases_ms": p.phases_ms(),
                     "keyframes_sent": p.video_track.keyframes_sent if p.video_track else 0,
                     "keyframe_requests": p.video_track.keyframe_requests if p.video_track else 0,
                     "frame_sizes": p.frame_sizes.summary() if p.frame_sizes is not None else None}
                    for p in self.participants]  # fmt: skip
        if what == "speak":  # {name: speaking}
            for p in self.participants:
                if p.spec.name in command[1]:
                    p.spec.speaking = command[1][p.spec.name]
            return {"ok": True}
        if what == "led_since":  # (since, name): when each receiver saw name lead the speakers
            since, name = command[1], command[2]
            return [{"name": p.spec.name, "at": first_named_after(p.speakers_log, since, p.ids.get(name, ""))}
                    for p in self.participants if p.spec.name != name]  # fmt: skip
        if what == "mark":
            out = self.stats.mark()
            out["decoded"] = self.decoded
            out["rx_bytes_by_name"] = {p.spec.name: p.take_rx_bytes() for p in self.participants}
            return out
        if what == "stop":
            await asyncio.gather(*(p.close() for p in self.participants), return_exceptions=True)
            return {"stopped": True}
        raise ValueError(f"unknown command {what!r}")


_FOR_LIFE = contextlib.ExitStack()  # what this process enters once and never leaves


def without_receive_state() -> None:
    """aiortc builds a jitter buffer, a NACK generator and a bitrate estimator
    (1,000 rate buckets) in every receiver, and a decoder queue and thread;
    this process's receivers never run that path (its counters take the
    packets first, ``count_on``), so it builds none: they were 12 % of a
    load worker's samples in a join storm, CPU the SFU under test then
    shares the machine with. The SFU's own swap, entered for the life of the
    process (no peer here needs its estimator); and, as the SFU does, one
    fingerprint (sha-256) per section, computed once per certificate, not
    three digests per section of every SDP written."""
    _FOR_LIFE.enter_context(receivers_without_receive_path())  # (held: a dropped one would undo the swap)
    fingerprints.install()
    RTCRtpReceiver.receive = receive_without_decoder  # type: ignore[method-assign]


async def receive_without_decoder(receiver: RTCRtpReceiver, parameters: RTCRtpReceiveParameters) -> None:
    """``RTCRtpReceiver.receive`` without its decoder thread (aiortc is pinned).

    aiortc starts a thread per receiver (62 per subscriber in a meeting of 32),
    which this process stopped again at once (its counters take the packets
    first): starting and joining 62 threads took 11-22 ms a negotiation, as
    much as the answer itself, on the loop that also counts what arrives. The
    receiver is registered and its RTCP task runs as in aiortc: the SFU gets
    each receiver's reports, as it does from a browser's receive streams."""
    if receiver._RTCRtpReceiver__started:  # type: ignore[attr-defined]
        return
    for codec in parameters.codecs:
        receiver._RTCRtpReceiver__codecs[codec.payloadType] = codec  # type: ignore[attr-defined]
    for encoding in parameters.encodings:
        if encoding.rtx:
            receiver._RTCRtpReceiver__rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__transport._register_rtp_receiver(receiver, parameters)  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__rtcp_task = asyncio.ensure_future(receiver._run_rtcp())  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__started = True  # type: ignore[attr-defined]


def worker_main(conn: Connection, clips: dict[str, list[bytes]]) -> None:
    os.environ.pop("CALLSFU_BENCH_REEXEC", None)
    without_receive_state()  # (a load worker process only: the server is a process of its own)
    collector.settle()  # as the SFU does: its answers' parses set off full collections too
    try:
        import uvloop

        uvloop.run(Worker(conn, clips).run())
    except KeyboardInterrupt:
        pass
