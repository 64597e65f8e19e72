"""A real WebRTC participant for tests, built on aiortc.

It joins through the public API and signaling of docs/protocol.md, publishes a
solid-colour VP8 video and an Opus tone that identify it, decodes what it
receives, and keys everything on ``mid`` and the latest ``tracks`` snapshot.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import aiohttp
import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc import sdp as sdp_module
from aiortc.rtcconfiguration import RTCBundlePolicy, RTCIceServer, RTCIceTransportPolicy
from av import AudioFrame, Packet, VideoFrame

from sfu.rtc.ice import use_host_addresses

use_host_addresses(["127.0.0.1"])  # test peers offer loopback only, like the server

COLOURS: list[tuple[int, int, int]] = [
    (230, 40, 40), (40, 200, 40), (40, 60, 230), (230, 220, 40),
    (220, 40, 220), (40, 220, 220), (240, 140, 20), (140, 60, 200),
]
WIDTH, HEIGHT = 160, 120


def tone_of(index: int) -> float:
    return 300.0 + 50.0 * index


class ColourTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, rgb: tuple[int, int, int], fps: int = 15, textured: bool = False) -> None:
        super().__init__()
        self.fps = fps
        self._start: float | None = None
        self._count = 0
        img = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        img[:, :] = rgb
        self._img = img
        # textured: fresh noise around the colour in every frame, so the encoder
        # fills its bitrate with full-size packets as a camera does (the mean stays)
        self._noise = np.random.default_rng(sum(rgb)) if textured else None

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._count += 1
            await asyncio.sleep(max(0.0, self._start + self._count / self.fps - time.monotonic()))
        img = self._img
        if self._noise is not None:
            noise = self._noise.integers(-24, 25, img.shape, dtype=np.int16)
            img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        frame = VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = self._count * (90000 // self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


_ENCODED_COLOURS: dict[tuple[tuple[int, int, int], int], list[bytes]] = {}


def encoded_colour(rgb: tuple[int, int, int], fps: int) -> list[bytes]:
    """One second of the solid colour in VP8, a keyframe first (so it loops), encoded once per process."""
    key = (rgb, fps)
    if key not in _ENCODED_COLOURS:
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height, codec.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        codec.time_base, codec.framerate = fractions.Fraction(1, fps), fps
        codec.bit_rate, codec.gop_size = 150_000, fps
        codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        img = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        img[:, :] = rgb
        packets: list[av.Packet] = []
        for i in range(fps):
            frame = VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            packets.extend(codec.encode(frame))
        packets.extend(codec.encode(None))
        assert len(packets) == fps and packets[0].is_keyframe
        _ENCODED_COLOURS[key] = [bytes(p) for p in packets]
    return _ENCODED_COLOURS[key]


class _LoopedPackets(MediaStreamTrack):
    """Packets encoded once, looped in real time at one per ``interval`` seconds
    with ``pts_step`` ticks of ``clock_rate`` each: aiortc sends them without encoding."""

    def __init__(self, packets: list[bytes], interval: float, pts_step: int, clock_rate: int) -> None:
        super().__init__()
        self.packets = packets
        self._interval = interval
        self._pts_step = pts_step
        self._time_base = fractions.Fraction(1, clock_rate)
        self._start: float | None = None
        self._count = 0
        self.seal: Callable[[str, bytes], bytes] | None = None

    async def recv(self) -> Packet:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._count += 1
            await asyncio.sleep(max(0.0, self._start + self._count * self._interval - time.monotonic()))
        data = self.packets[self._count % len(self.packets)]
        packet = Packet(self.seal(self.kind, data) if self.seal is not None else data)
        packet.pts = self._count * self._pts_step
        packet.time_base = self._time_base
        return packet


class EncodedColourTrack(_LoopedPackets):
    """The colour, VP8-encoded once and looped (a keyframe a second)."""

    kind = "video"

    def __init__(self, rgb: tuple[int, int, int], fps: int) -> None:
        super().__init__(encoded_colour(rgb, fps), 1 / fps, 90000 // fps, 90000)
        self.fps = fps


class ToneTrack(MediaStreamTrack):
    kind = "audio"
    RATE = 48000
    SAMPLES = 960

    def __init__(self, frequency: float) -> None:
        super().__init__()
        self.frequency = frequency
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += self.SAMPLES
            await asyncio.sleep(max(0.0, self._start + self._pts / self.RATE - time.monotonic()))
        t = (self._pts + np.arange(self.SAMPLES)) / self.RATE
        samples = (np.sin(2 * np.pi * self.frequency * t) * 8000).astype(np.int16)
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, self.RATE)
        return frame


_ENCODED_TONES: dict[tuple[float, int], list[bytes]] = {}


def encoded_tone(frequency: float, frame_ms: int = 20) -> list[bytes]:
    """50 Opus packets of a tone (a whole number of seconds and of cycles,
    so it loops seamlessly), encoded once per process."""
    key = (frequency, frame_ms)
    if key not in _ENCODED_TONES:
        codec = av.CodecContext.create("libopus", "w")
        codec.sample_rate, codec.layout, codec.format, codec.bit_rate = 48000, "stereo", "s16", 32000
        codec.options = {"frame_duration": str(frame_ms), "application": "audio"}
        codec.open()
        size = 48 * frame_ms
        packets: list[bytes] = []
        for i in range(60):
            t = (i * size + np.arange(size)) / 48000
            mono = (np.sin(2 * np.pi * frequency * t) * 8000).astype(np.int16)
            frame = AudioFrame.from_ndarray(np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = 48000, i * size, fractions.Fraction(1, 48000)
            packets.extend(bytes(p) for p in codec.encode(frame))
        _ENCODED_TONES[key] = packets[-50:]
    return _ENCODED_TONES[key]


class EncodedToneTrack(_LoopedPackets):
    """The tone, Opus-encoded once and looped."""

    kind = "audio"

    def __init__(self, frequency: float, frame_ms: int = 20) -> None:
        super().__init__(encoded_tone(frequency, frame_ms), frame_ms / 1000, 48 * frame_ms, 48000)
        self.frequency = frequency
        self.frame_ms = frame_ms


class SpeakingToneTrack(_LoopedPackets):
    """The tone while ``speaking``, Opus-encoded silence otherwise; with
    :func:`send_levels`, each packet carries its RFC 6464 level (aiortc sets
    none on pre-encoded packets): ``level`` while speaking, 127 in silence."""

    kind = "audio"

    def __init__(self, frequency: float, level: int = 15, speaking: bool = True) -> None:
        super().__init__(encoded_tone(frequency), 0.02, 960, 48000)
        self.frequency = frequency
        self.level = level
        self.speaking = speaking
        self._tone = self.packets
        self._silence = encoded_tone(0.0)

    async def recv(self) -> Packet:
        self.packets = self._tone if self.speaking else self._silence
        return await super().recv()

    def current_level(self) -> int:
        return self.level if self.speaking else 127


def send_levels(sender: RTCRtpSender, track: SpeakingToneTrack) -> None:
    """Stamp every frame ``sender`` sends with ``track``'s current audio level."""
    original = sender._next_encoded_frame

    async def next_encoded_frame(codec: Any) -> Any:
        frame = await original(codec)
        if frame is not None:
            frame.audio_level = -track.current_level()  # aiortc writes -audio_level (dBov is negative)
        return frame

    sender._next_encoded_frame = next_encoded_frame  # type: ignore[method-assign]


@dataclass
class Received:
    """What one subscribe ``mid`` has delivered (decoded)."""

    kind: str
    frames: int = 0
    first_at: float | None = None
    colour: tuple[float, float, float] | None = None
    samples: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def analyse(self, frame: object) -> None:
        """Keep a decoded frame's mean colour (every third video frame) or its
        samples (the last 40 audio frames)."""
        if isinstance(frame, VideoFrame):
            if self.frames % 3 == 1:
                rgb = frame.to_ndarray(format="rgb24")
                self.colour = tuple(float(x) for x in rgb.reshape(-1, 3).mean(axis=0))  # type: ignore[assignment]
        elif isinstance(frame, AudioFrame):
            channels = len(frame.layout.channels) if not frame.format.is_planar else 1
            self.samples.append(frame.to_ndarray()[0][::channels])
            del self.samples[:-40]

    def flowing(self, window: float = 1.0, minimum: int = 5) -> bool:
        """At least ``minimum`` frames decoded in the last ``window`` seconds."""
        cutoff = time.monotonic() - window
        return sum(1 for t in self.times[-minimum:] if t >= cutoff) >= minimum

    def tone(self) -> float | None:
        if not self.samples:
            return None
        data = np.concatenate(self.samples[-20:]).astype(np.float64)
        if len(data) < 4800 or not np.any(data):
            return None
        spectrum = np.abs(np.fft.rfft(data * np.hanning(len(data))))
        return float(np.argmax(spectrum) * 48000 / len(data))


def nearest_colour(rgb: tuple[float, float, float]) -> int:
    return int(np.argmin([np.linalg.norm(np.subtract(rgb, c)) for c in COLOURS]))


def new_pc(ice_servers: list[dict[str, Any]] | None = None, relay_only: bool = False) -> RTCPeerConnection:
    """``ice_servers`` as the join grant gives them; ``relay_only``: TURN relay candidates only."""
    servers = [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential")) for s in ice_servers or []]
    return RTCPeerConnection(
        RTCConfiguration(
            iceServers=servers,
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
            iceTransportPolicy=RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL,
        )
    )


class Peer:
    def __init__(
        self, http: aiohttp.ClientSession, base_url: str, token: str, name: str, index: int,
        *, video: bool = True, audio: bool = True, decode: bool = True, audio_frame_ms: int = 20,
        drop_every: int = 0, relay_only: bool = False, textured: bool = False, receive_buffer: int = 0,
        send_drop_every: int = 0, record_sequences: bool = False, video_fps: int = 15, encoded_video: bool = False,
        audio_level: int | None = None,
        join_fields: dict[str, Any] | None = None, seal: Callable[[str, bytes], bytes] | None = None,
        auto_rejoin: bool = False,
    ) -> None:
        self.audio_level = audio_level  # set: the tone carries this RFC 6464 level while speaking (see speak)
        self.voice: SpeakingToneTrack | None = None
        self.join_fields = join_fields or {}  # more of the join body ({"e2ee": True})
        self.seal = seal  # applied to every encoded frame sent (E2EE: tests/e2ee_frames.py); needs encoded_video
        self.auto_rejoin = auto_rejoin  # like the web client: join again (a new POST) when dropped or told to
        self.rejoins = 0
        self.rejoin_reasons: list[str] = []
        self._rejoiner: asyncio.Task[None] | None = None
        self._leaving = False
        self.textured = textured
        self.receive_buffer = receive_buffer  # SO_RCVBUF of the subscribe sockets (0: the system's)
        self.video_fps, self.encoded_video = video_fps, encoded_video
        self.drop_every = drop_every
        self.send_drop_every = send_drop_every  # lose every n-th new video packet before it leaves
        self.send_dropped = 0
        self.rtx_sent = 0
        self.record_sequences = record_sequences
        self.sequences: dict[int, set[int]] = {}  # video SSRC -> sequence numbers received (RTX: its OSN)
        self.relay_only = relay_only
        self.ice_servers: list[dict[str, Any]] = []
        self.audio_frame_ms = audio_frame_ms
        self.http, self.base_url, self.token, self.name, self.index = http, base_url, token, name, index
        self.send_video, self.send_audio, self.decode = video, audio, decode
        self.participant_id = ""
        self.welcome: dict[str, Any] = {}
        self.roster: dict[str, str] = {}
        self.tracks: dict[str, tuple[str, str]] = {}  # mid -> (participant_id, kind)
        self.received: dict[str, Received] = {}
        self.messages: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.ended: str | None = None
        self.publish_pc: RTCPeerConnection | None = None
        self.subscribe_pc: RTCPeerConnection | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.connected_at: float | None = None
        self._publish_answer: asyncio.Future[str] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._lock = asyncio.Lock()
        self._mid_of_ssrc: dict[int, str] = {}
        self.rtx_ssrcs: set[int] = set()
        self._fid: dict[int, int] = {}  # RTX SSRC -> media SSRC
        self._kind_of_ssrc: dict[int, str] = {}
        self.rtx_received = 0
        self.dropped = 0
        self._ssrc_packets: dict[int, int] = {}

    # -- joining -----------------------------------------------------------------
    async def join(self) -> None:
        async with self.http.post(f"{self.base_url}/api/links/{self.token}/join", json={**self.join_fields, "name": self.name}) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise JoinRefused(resp.status, body["error"]["code"])
        self.participant_id = body["participant_id"]
        self.ice_servers = body["ice_servers"]
        self.ws = await self.http.ws_connect(body["ws_url"])
        self.connected_at = time.monotonic()
        self.welcome = json.loads((await self.ws.receive(timeout=5)).data)
        assert self.welcome["type"] == "welcome", self.welcome
        self.roster = {p["id"]: p["name"] for p in self.welcome["participants"]}
        self._tasks.append(asyncio.get_running_loop().create_task(self._read()))
        if self.send_audio or self.send_video:
            await self.publish()

    async def publish(self) -> None:
        pc = self.publish_pc = new_pc(self.ice_servers if self.relay_only else None, self.relay_only)
        if self.send_audio:
            if self.audio_level is not None:
                assert self.seal is None, "sealing frames needs the pre-encoded tone"
                self.voice = SpeakingToneTrack(tone_of(self.index), self.audio_level, speaking=False)
                t = pc.addTransceiver(self.voice, direction="sendonly")
                send_levels(t.sender, self.voice)
            else:
                tone = EncodedToneTrack(tone_of(self.index), self.audio_frame_ms)
                tone.seal = self.seal
                t = pc.addTransceiver(tone, direction="sendonly")
            t.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType == "audio/opus"])
        if self.send_video:
            colour = COLOURS[self.index % len(COLOURS)]
            if self.encoded_video:
                track: MediaStreamTrack = EncodedColourTrack(colour, self.video_fps)
                track.seal = self.seal  # type: ignore[attr-defined]
            else:
                assert self.seal is None, "sealing frames needs encoded_video=True"
                track = ColourTrack(colour, self.video_fps, textured=self.textured)
            t = pc.addTransceiver(track, direction="sendonly")
            t.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in ("video/VP8", "video/rtx")])
        await pc.setLocalDescription(await pc.createOffer())
        if self.send_drop_every and self.send_video:
            self._lossy_sender(pc.getTransceivers()[-1].sender)
        self._publish_answer = asyncio.get_running_loop().create_future()
        await self.send({"type": "publish", "sdp": pc.localDescription.sdp})
        sdp = await asyncio.wait_for(self._publish_answer, 10)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps(message))

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            m = json.loads(msg.data)
            self.messages.append(m)
            kind = m["type"]
            if kind == "publish_answer" and self._publish_answer and not self._publish_answer.done():
                self._publish_answer.set_result(m["sdp"])
            elif kind == "subscribe":
                # answered beside the reader, so that it keeps reading (and
                # answering the server's pings) while the answer is made
                self._tasks.append(asyncio.get_running_loop().create_task(self._answer_in_turn(m["sdp"])))
            elif kind == "tracks":
                self.tracks = {t["mid"]: (t["participant_id"], t["kind"]) for t in m["tracks"]}
            elif kind == "participant_joined":
                self.roster[m["participant"]["id"]] = m["participant"]["name"]
            elif kind == "participant_left":
                self.roster.pop(m["participant_id"], None)
            elif kind == "error":
                self.errors.append(m)
            elif kind == "ended":
                self.ended = m["reason"]
            elif kind == "rejoin":
                self.rejoin_reasons.append(m["reason"])
                break
        if self.auto_rejoin and not self._leaving and self.ended is None and self._rejoiner is None:
            self._rejoiner = asyncio.get_running_loop().create_task(self._rejoin())

    async def _rejoin(self) -> None:
        """Drop everything of the old connection and join again until it works."""
        try:
            current = asyncio.current_task()
            for task in self._tasks:
                if task is not current:
                    task.cancel()
            self._tasks = []
            for pc in (self.publish_pc, self.subscribe_pc):
                if pc is not None:
                    await pc.close()
            if self.ws is not None and not self.ws.closed:
                await self.ws.close()
            self.publish_pc = self.subscribe_pc = None
            self.tracks, self.received, self.roster = {}, {}, {}
            self._mid_of_ssrc.clear()
            self._kind_of_ssrc.clear()
            delay = 0.1
            while not self._leaving:
                try:
                    await self.join()
                    self.rejoins += 1
                    return
                except (JoinRefused, aiohttp.ClientError, asyncio.TimeoutError, OSError, AssertionError, TypeError, ValueError):
                    for task in self._tasks:
                        task.cancel()
                    self._tasks = []
                    for pc in (self.publish_pc, self.subscribe_pc):
                        if pc is not None:
                            await pc.close()
                    self.publish_pc = self.subscribe_pc = None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 1.0)
        finally:
            self._rejoiner = None

    async def _answer_in_turn(self, sdp: str) -> None:
        async with self._lock:
            await self._answer(sdp)

    async def _answer(self, sdp: str) -> None:
        if self.subscribe_pc is None:
            self.subscribe_pc = pc = new_pc(self.ice_servers if self.relay_only else None, self.relay_only)

            @pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                transceiver = next(t for t in pc.getTransceivers() if t.receiver.track is track)
                if self.decode:
                    self._tasks.append(asyncio.get_running_loop().create_task(self._consume(transceiver.mid, track)))
                else:
                    stop_decoder(transceiver.receiver)

        pc = self.subscribe_pc
        for media in sdp_module.SessionDescription.parse(sdp).media:
            for info in media.ssrc:
                self._mid_of_ssrc[info.ssrc] = str(media.rtp.muxId)
                self._kind_of_ssrc[info.ssrc] = media.kind
            for group in media.ssrc_group:
                if group.semantic == "FID" and len(group.items) == 2:
                    self.rtx_ssrcs.add(int(group.items[1]))
                    self._fid[int(group.items[1])] = int(group.items[0])
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        if self.record_sequences:
            self._record(pc.getTransceivers()[0].receiver.transport)
        if not self.decode:
            self._count_only(pc.getTransceivers()[0].receiver.transport)
        elif self.drop_every:
            self._lossy(pc.getTransceivers()[0].receiver.transport)
        await pc.setLocalDescription(await pc.createAnswer())
        if self.receive_buffer:
            self._shrink_receive_buffer(pc.getTransceivers()[0].receiver.transport)
        await self.send({"type": "subscribe_answer", "sdp": pc.localDescription.sdp})

    async def _consume(self, mid: str, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            rec = self.received.get(mid)
            if rec is None:
                rec = self.received[mid] = Received(track.kind)
            rec.frames += 1
            rec.times.append(time.monotonic())
            del rec.times[:-50]
            if rec.first_at is None:
                rec.first_at = time.monotonic()
            rec.analyse(frame)

    def _lossy(self, dtls: Any) -> None:
        """Lose every ``drop_every``-th new video packet on arrival (first copies
        only), and count the retransmissions (RTX) that repair the losses."""
        if getattr(dtls, "_test_lossy", False):
            return
        dtls._test_lossy = True
        original = dtls._handle_rtp_data
        seen: set[tuple[int, int]] = set()

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            ssrc, seq = int.from_bytes(data[8:12], "big"), int.from_bytes(data[2:4], "big")
            if ssrc in self.rtx_ssrcs:
                self.rtx_received += 1
            elif self._kind_of_ssrc.get(ssrc) == "video" and (ssrc, seq) not in seen:
                seen.add((ssrc, seq))
                if seq % self.drop_every == 0:
                    self.dropped += 1
                    return
            await original(data, arrival_time_ms)

        dtls._handle_rtp_data = handle_rtp_data

    def _shrink_receive_buffer(self, dtls: Any) -> None:
        """A receiver with a small socket buffer (a slow reader, or Firefox's
        208 KiB): bursts bigger than it are dropped by the kernel."""
        for protocol in dtls.transport._connection._protocols:
            sock = protocol.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)

    def _lossy_sender(self, sender: Any) -> None:
        """Lose every ``send_drop_every``-th new video packet before it leaves
        (first transmissions only: what the SFU's NACKs bring back on the RTX
        SSRC gets through)."""
        dtls = sender.transport
        original = dtls._send_rtp
        sent: set[int] = set()

        async def send_rtp(data: bytes) -> None:
            if len(data) >= 12 and not 192 <= data[1] <= 223:
                ssrc, seq = int.from_bytes(data[8:12], "big"), int.from_bytes(data[2:4], "big")
                if ssrc == sender._rtx_ssrc:
                    self.rtx_sent += 1
                elif ssrc == sender._ssrc and seq not in sent:
                    sent.add(seq)
                    if len(sent) > 4096:
                        sent.clear()
                    if seq % self.send_drop_every == 0:
                        self.send_dropped += 1
                        return
            await original(data)

        dtls._send_rtp = send_rtp

    def target_bitrate(self) -> int | None:
        """The publisher's VP8 encoder target (set by the REMB it receives)."""
        assert self.publish_pc is not None
        for t in self.publish_pc.getTransceivers():
            encoder = getattr(t.sender, "_RTCRtpSender__encoder", None)
            if t.kind == "video" and encoder is not None:
                return int(encoder.target_bitrate)
        return None

    def _record(self, dtls: Any) -> None:
        """Note every video sequence number that arrives (an RTX packet's OSN
        included), to find holes nothing repaired."""
        if getattr(dtls, "_test_recording", False):
            return
        dtls._test_recording = True
        original = dtls._handle_rtp_data

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            if len(data) >= 14:
                ssrc, seq = int.from_bytes(data[8:12], "big"), int.from_bytes(data[2:4], "big")
                if ssrc in self.rtx_ssrcs:
                    start = 12 + 4 * (data[0] & 0x0F)
                    if data[0] & 0x10:
                        start += 4 + 4 * int.from_bytes(data[start + 2 : start + 4], "big")
                    group = self._fid.get(ssrc)
                    if group is not None and len(data) >= start + 2:
                        self.sequences.setdefault(group, set()).add(int.from_bytes(data[start : start + 2], "big"))
                elif self._kind_of_ssrc.get(ssrc) == "video":
                    self.sequences.setdefault(ssrc, set()).add(seq)
            await original(data, arrival_time_ms)

        dtls._handle_rtp_data = handle_rtp_data

    def unrepaired(self, ssrc: int, tail: int = 50) -> int:
        """Sequence numbers of ``ssrc`` never received, up to ``tail`` before the newest."""
        seqs = self.sequences.get(ssrc, set())
        if not seqs:
            return 0
        ordered = sorted(seqs)  # the streams here are short: no wrap in practice
        return sum(1 for s in range(ordered[0], ordered[-1] - tail + 1) if s not in seqs)

    def _count_only(self, dtls: Any) -> None:
        """A listener that only counts: decrypted RTP is tallied per SSRC and
        goes no further (keeps 30 listeners in one test process cheap)."""
        if getattr(dtls, "_test_counting", False):
            return
        dtls._test_counting = True

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            if len(data) >= 12:
                ssrc = int.from_bytes(data[8:12], "big")
                self._ssrc_packets[ssrc] = self._ssrc_packets.get(ssrc, 0) + 1

        dtls._handle_rtp_data = handle_rtp_data

    async def packets_by_mid(self) -> dict[str, int]:
        """RTP packets received per subscribe mid: counted on arrival by
        listeners that do not decode, else from aiortc's inbound-rtp stats."""
        out: dict[str, int] = {}
        if not self.decode:
            for ssrc, n in self._ssrc_packets.items():
                mid = self._mid_of_ssrc.get(ssrc)
                if mid is not None:
                    out[mid] = out.get(mid, 0) + n
            return out
        if self.subscribe_pc is None:
            return out
        for t in self.subscribe_pc.getTransceivers():
            stats = await t.receiver.getStats()
            out[str(t.mid)] = sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp")
        return out

    def speak(self, speaking: bool = True) -> None:
        """Send the tone at ``audio_level`` (True) or silence at level 127."""
        assert self.voice is not None, "a peer made with audio_level=... speaks"
        self.voice.speaking = speaking

    def speakers(self) -> list[str] | None:
        """The latest ``speakers`` message's list (None before any)."""
        for m in reversed(self.messages):
            if m["type"] == "speakers":
                return list(m["speakers"])
        return None

    # -- what arrived --------------------------------------------------------------
    def mids_of(self, participant_id: str, kind: str) -> list[str]:
        return [mid for mid, (pid, k) in self.tracks.items() if pid == participant_id and k == kind]

    def sees(self, other: Peer, window: float = 1.0) -> bool:
        """Decoded video in ``other``'s colour on the mid ``tracks`` says is theirs."""
        for mid in self.mids_of(other.participant_id, "video"):
            rec = self.received.get(mid)
            if (
                rec
                and rec.colour is not None
                and nearest_colour(rec.colour) == other.index % len(COLOURS)
                and rec.flowing(window, minimum=3)
            ):
                return True
        return False

    def hears(self, other: Peer, window: float = 1.0) -> bool:
        """Decoded audio with ``other``'s tone on the mid ``tracks`` says is theirs."""
        for mid in self.mids_of(other.participant_id, "audio"):
            rec = self.received.get(mid)
            tone = rec.tone() if rec else None
            if tone is not None and abs(tone - tone_of(other.index)) < 15 and rec is not None and rec.flowing(window):
                return True
        return False

    # -- leaving ----------------------------------------------------------------------
    async def leave(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.send({"type": "leave"})
        await self.close()

    async def vanish(self) -> None:
        """Disappear without a word: the socket is torn down, media stops."""
        if self.ws is not None:
            transport = self.ws._response.connection.transport if self.ws._response.connection else None
            if transport is not None:
                transport.abort()
        await self.close()

    async def freeze(self) -> None:
        """Go silent without closing anything (a laptop lid shut, a network gone):
        the socket stays open but nothing is read or answered, media stops."""
        assert self.ws is not None and self.ws._response.connection is not None
        self.ws._response.connection.transport.pause_reading()
        for task in self._tasks:
            task.cancel()
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                await pc.close()

    async def close(self) -> None:
        self._leaving = True
        if self._rejoiner is not None:
            self._rejoiner.cancel()
        for task in self._tasks:
            task.cancel()
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                await pc.close()
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()


def stop_decoder(receiver: Any) -> None:
    """A listener that only counts packets: stop aiortc's decoder thread once started."""
    original = receiver.receive

    async def receive(parameters: Any) -> None:
        await original(parameters)
        receiver._handle_disconnect()

    receiver.receive = receive


class JoinRefused(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"{status} {code}")
        self.status, self.code = status, code


async def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())
