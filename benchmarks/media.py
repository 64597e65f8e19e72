"""Media for synthetic participants: encoded once, looped, never re-encoded.

Video is a moving pattern encoded to VP8 at start-up (a keyframe, then delta
frames); audio is Opus. Tracks hand aiortc ``av.Packet`` objects, which its
sender packetizes without encoding. A keyframe request (PLI/FIR) restarts the
video loop at its keyframe, at most once a second, as real encoders do.
"""

from __future__ import annotations

import asyncio
import fractions
import time
import zlib
from dataclasses import dataclass

import av
import numpy as np
from aiortc import MediaStreamTrack
from av import AudioFrame, Packet, VideoFrame

KEYFRAME_INTERVAL_MIN = 1.0  # seconds between two keyframes sent on request


@dataclass(frozen=True)
class VideoProfile:
    width: int
    height: int
    fps: int
    kbps: int
    seconds: float = 4.0
    qmax: int = 56  # libvpx's coarsest quantizer: 63 lets a noisy 640x360 get down to ~500 kbps


PROFILES = {
    "1mbps": VideoProfile(640, 360, 30, 1000),  # fan-out: a 1 Mbps camera
    "300kbps": VideoProfile(320, 240, 30, 300),  # meeting: a small tile
}


def _pattern(profile: VideoProfile, i: int, rng: np.random.Generator) -> np.ndarray:
    h, w = profile.height, profile.width
    y, x = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[..., 0] = ((x + 4 * i) % 256).astype(np.uint8)
    img[..., 1] = ((y * 2 + 3 * i) % 256).astype(np.uint8)
    img[..., 2] = (((x + y) // 2 + 6 * i) % 256).astype(np.uint8)
    # a moving noisy square keeps the encoder busy (a realistic bitrate)
    s = h // 3
    cx = int((w - s) * (0.5 + 0.5 * np.sin(i / 15)))
    cy = int((h - s) * (0.5 + 0.5 * np.cos(i / 20)))
    img[cy:cy + s, cx:cx + s] = rng.integers(0, 255, (s, s, 3), dtype=np.uint8)
    return img


def encode_vp8(profile: VideoProfile, camera: VideoProfile | None = None) -> list[bytes]:
    """``profile.seconds`` of VP8 frames: frame 0 is the only keyframe. With
    ``camera``, the pattern is drawn at the camera's size and scaled down to
    the profile's (one picture at several sizes, as simulcast layers are)."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = profile.width, profile.height, "yuv420p"
    codec.bit_rate = profile.kbps * 1000
    codec.time_base = fractions.Fraction(1, profile.fps)
    codec.framerate = fractions.Fraction(profile.fps, 1)
    codec.gop_size = 100000  # no periodic keyframes
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "threads": "1",
                     "kf-max-dist": "100000", "static-thresh": "0", "qmin": "4", "qmax": str(profile.qmax)}  # fmt: skip
    codec.open()
    rng = np.random.default_rng(1)
    frames: list[bytes] = []
    total = int(profile.fps * profile.seconds)
    source = camera or profile
    for i in range(total + 1):
        picture = VideoFrame.from_ndarray(_pattern(source, i, rng), format="rgb24")
        frame = picture.reformat(width=profile.width, height=profile.height, format="yuv420p")
        frame.pts = i
        frame.time_base = codec.time_base
        frames.extend(bytes(p) for p in codec.encode(frame))
    frames.extend(bytes(p) for p in codec.encode(None))
    frames = frames[:total]
    if not frames or not is_keyframe(frames[0]) or any(is_keyframe(f) for f in frames[1:]):
        raise RuntimeError("the VP8 clip must be one keyframe followed by delta frames")
    return frames


def is_keyframe(frame: bytes) -> bool:
    return bool(frame) and frame[0] & 0x01 == 0


def encode_opus(seed: int, seconds: float = 2.0) -> list[bytes]:
    """20 ms Opus packets of a tone with a little noise (distinct packets per seed)."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format, codec.bit_rate = 48000, "stereo", "s16", 32000
    codec.options = {"frame_duration": "20", "application": "audio"}
    codec.open()
    rng = np.random.default_rng(seed + 1000)
    freq = 310.3 + 17.1 * seed
    packets: list[bytes] = []
    n = int(seconds * 50) + 10
    for i in range(n):
        t = (i * 960 + np.arange(960)) / 48000
        mono = np.sin(2 * np.pi * freq * t) * 6000 + rng.normal(0, 800, 960)
        frame = AudioFrame.from_ndarray(np.repeat(mono.astype(np.int16), 2).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, fractions.Fraction(1, 48000)
        packets.extend(bytes(p) for p in codec.encode(frame))
    return packets[-int(seconds * 50):]


def clip_bitrate_kbps(frames: list[bytes], fps: float) -> float:
    return sum(map(len, frames)) * 8 * fps / len(frames) / 1000


class LoopTrack(MediaStreamTrack):
    """Hands out pre-encoded frames in real time, looping; never encodes."""

    def __init__(self, kind: str, frames: list[bytes], interval: float, clock_rate: int) -> None:
        super().__init__()
        self.kind = kind
        self.frames = frames
        self.interval = interval
        self.ticks = round(interval * clock_rate)
        self.time_base = fractions.Fraction(1, clock_rate)
        self._start: float | None = None
        self._count = 0
        self._index = 0
        self._want_keyframe = False
        self._last_keyframe = -1e9
        self.keyframes_sent = 0
        self.keyframe_requests = 0

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        self._want_keyframe = True

    async def recv(self) -> Packet:
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            self._count += 1
            await asyncio.sleep(max(0.0, self._start + self._count * self.interval - now))
            now = time.monotonic()
            self._index += 1
            if self._index >= len(self.frames):
                self._index = 1  # loop over the delta frames; a keyframe only on request
        if self.kind == "video" and self._want_keyframe and now - self._last_keyframe >= KEYFRAME_INTERVAL_MIN:
            self._index = 0
        if self.kind == "video" and self._index == 0:
            self._want_keyframe = False
            self._last_keyframe = now
            self.keyframes_sent += 1
        packet = Packet(self.frames[self._index])
        packet.pts = self._count * self.ticks
        packet.time_base = self.time_base
        return packet


def payload_key(data: bytes) -> int:
    """A 48-bit identity of an RTP packet's payload (identical through an SFU
    that forwards it): its CRC-32 and its length. -1 if not RTP."""
    n = len(data)
    if n < 12:
        return -1
    b0 = data[0]
    pos = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if n < pos + 4:
            return -1
        pos += 4 + 4 * ((data[pos + 2] << 8) | data[pos + 3])
    end = n - (data[-1] if b0 & 0x20 else 0)
    if end <= pos:
        return -1
    return (zlib.crc32(data[pos:end]) << 16) | ((end - pos) & 0xFFFF)


def rtp_payload(data: bytes) -> bytes:
    b0 = data[0]
    pos = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        pos += 4 + 4 * ((data[pos + 2] << 8) | data[pos + 3])
    end = len(data) - (data[-1] if b0 & 0x20 else 0)
    return data[pos:end]


def vp8_frame_start(payload: bytes) -> int | None:
    """Where the VP8 frame starts in ``payload`` when the packet begins one
    (S=1, PID=0: RFC 7741's payload descriptor walked), else None."""
    n = len(payload)
    if n < 2:
        return None
    b = payload[0]
    if not b & 0x10 or b & 0x0F:
        return None
    pos = 1
    if b & 0x80:
        x = payload[1]
        pos = 2
        if x & 0x80:
            if pos >= n:
                return None
            pos += 2 if payload[pos] & 0x80 else 1
        if x & 0x40:
            pos += 1
        if x & 0x30:
            pos += 1
    return pos


def vp8_keyframe_start(payload: bytes) -> bool:
    """S=1, PID=0 and the VP8 header's P bit clear (RFC 7741)."""
    pos = vp8_frame_start(payload)
    return pos is not None and pos < len(payload) and payload[pos] & 0x01 == 0


def decode_vp8_frame(payloads: list[bytes]) -> str:
    """Depacketize and decode one VP8 frame: 'WxH' if it decodes."""
    from aiortc.codecs.vpx import VpxPayloadDescriptor

    data = b""
    for p in payloads:
        _, rest = VpxPayloadDescriptor.parse(p)
        data += rest
    codec = av.CodecContext.create("vp8", "r")
    frames = codec.decode(av.Packet(data))
    if not frames:
        raise ValueError("no frame decoded")
    return f"{frames[0].width}x{frames[0].height}"
