"""Simulcast for synthetic publishers: three VP8 layers of one camera, as a browser sends them.

Why: in ``bigcall`` a receiver shows one large tile and eight small ones. A
publisher sending one ~300 kbit/s layer costs each receiver nine times that
(~2.9 Mbit/s); a phone needs ≤ 1.5 Mbit/s. The SFU picks, per tile, the
smallest layer at least as large as the tile the receiver's ``view`` reports
(sfu/core/simulcast.py), so the load generator has to publish what the
browser client publishes (control/static/simulcast.js): several encodings of
one picture, rids ``q``, ``h``, ``f``, smallest first, in one video section.

aiortc knows no simulcast (it neither writes ``a=rid`` nor a rid header
extension), so, without changing aiortc:

- **media**: one moving picture drawn at the largest size and scaled down,
  each size encoded to VP8 once at start-up (:func:`encode_layers`, with
  ``media.encode_vp8``), looped by a ``LoopTrack`` per layer;
- **offer**: aiortc's offer plus, in the video section, the rid header
  extensions, ``a=rid:RID send`` per layer and ``a=simulcast:send q;h;f``
  (RFC 8853), its ``a=ssrc`` lines removed, as Chromium offers rid-based
  simulcast: the SFU binds each SSRC to its layer by the rid it carries
  (:func:`offer_simulcast`);
- **senders**: the transceiver's own sender carries the largest layer; each
  other layer gets its own ``RTCRtpSender`` on the same (bundled) DTLS
  transport, started with the transceiver's negotiated parameters at the
  moment aiortc starts the transceiver's sender (DTLS is up then)
  (:class:`SimulcastCamera`). So every layer has its own SSRC and RTX SSRC,
  sequence numbers, timestamps and PictureIDs; a PLI/FIR names a layer's
  SSRC and restarts only that layer's loop at its keyframe (at most once a
  second, ``media.KEYFRAME_INTERVAL_MIN``); a NACK is answered from that
  sender's own history as RTX;
- **rid on the wire**: a sender's header-extension map that writes the
  layer's rid (:class:`RidStamp`): ``rtp-stream-id`` on media, and
  ``repaired-rtp-stream-id`` on RTX (RFC 8852), which the SFU binds RTX
  SSRCs by.

The receiving side (:class:`FrameSizes`) says which picture size each video
a receiver gets has, from the VP8 keyframes it receives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable

from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpSendParameters
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap

from benchmarks.media import LoopTrack, VideoProfile, encode_vp8, vp8_frame_start

RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
RRID_URI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
FPS = 30
CLIP = "simulcast"  # Spec.video of a simulcast publisher; its clips are CLIP + ":" + rid


@dataclass(frozen=True)
class Layer:
    """One simulcast encoding: its rid and what it is encoded to."""

    rid: str
    width: int
    height: int
    kbps: int

    @property
    def profile(self) -> VideoProfile:
        return VideoProfile(self.width, self.height, FPS, self.kbps, qmax=63)

    @property
    def clip(self) -> str:
        return f"{CLIP}:{self.rid}"


# smallest first, as the browser lists them (rids of control/static/simulcast.js); the sizes are
# bigcall's tiles (160x90 small, 640x360 large) and the half between
LAYERS = (Layer("q", 160, 90, 60), Layer("h", 320, 180, 150), Layer("f", 640, 360, 500))


def encode_layers(layers: tuple[Layer, ...] = LAYERS) -> dict[str, list[bytes]]:
    """Each layer's clip (one keyframe, then deltas), by ``Layer.clip``: the
    same moving picture at every size (drawn at the largest, scaled down)."""
    camera = max(layers, key=lambda layer: layer.width * layer.height).profile
    return {layer.clip: encode_vp8(layer.profile, camera) for layer in layers}


# -- the offer -------------------------------------------------------------------------------------
def offer_simulcast(sdp: str, rids: tuple[str, ...] = tuple(layer.rid for layer in LAYERS)) -> tuple[str, int, int]:
    """aiortc's offer with its (first) video section offering ``rids`` as simulcast.
    Returns the offer and the header-extension ids given to the rid and the repaired rid
    (the lowest ids no section uses: in a BUNDLE one id names one extension)."""
    used = {int(m) for m in re.findall(r"^a=extmap:(\d+)", sdp, flags=re.M)}
    rid_id, rrid_id = [i for i in range(1, 15) if i not in used][:2]
    out: list[str] = []
    section = ""
    done = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            if section == "video":
                done = True
            section = line[2:].split(" ", 1)[0]
        in_video = section == "video" and not done
        if in_video and line.startswith(("a=ssrc:", "a=ssrc-group:")):
            continue  # rid-based simulcast signals no SSRC (Chromium's offer has none)
        out.append(line)
        if in_video and line.startswith("a=mid:"):
            out += [f"a=extmap:{rid_id} {RID_URI}", f"a=extmap:{rrid_id} {RRID_URI}"]
            out += [f"a=rid:{rid} send" for rid in rids]
            out.append(f"a=simulcast:send {';'.join(rids)}")
    return "\r\n".join(out) + "\r\n", rid_id, rrid_id


# -- the senders -----------------------------------------------------------------------------------
class RidStamp(HeaderExtensionsMap):
    """A sender's header-extension map that names its layer on every packet.

    aiortc's sender builds a new ``HeaderExtensions`` for each packet it
    sends and serializes it once; a retransmission (``wrap_rtx``) reuses the
    lost packet's extensions and serializes them again. So extensions not
    stamped yet are media (``rtp-stream-id``), and extensions stamped before
    are RTX (``repaired-rtp-stream-id``): what the SFU tells layers and their
    RTX apart by, without touching aiortc's send loop."""

    def __init__(self, rid: str) -> None:
        super().__init__()
        self.rid = rid

    def set(self, values: HeaderExtensions) -> tuple[int, bytes]:
        if values.rtp_stream_id is None and values.repaired_rtp_stream_id is None:
            values.rtp_stream_id = self.rid  # first time: a media packet
        elif values.rtp_stream_id is not None:
            values.rtp_stream_id, values.repaired_rtp_stream_id = None, self.rid  # again: its retransmission
        return super().set(values)


def _stamp(sender: RTCRtpSender, rid: str) -> None:
    """Give ``sender`` a :class:`RidStamp` (before ``send``, which configures it)."""
    sender._RTCRtpSender__rtp_header_extensions_map = RidStamp(rid)


class SimulcastCamera:
    """One publisher's camera as every layer of ``layers`` on ``pc``: a sendonly
    VP8 transceiver whose own sender carries the largest layer, and a sender
    per other layer started beside it. Its offer must go through :meth:`offer`."""

    def __init__(self, pc: RTCPeerConnection, clips: dict[str, list[bytes]], layers: tuple[Layer, ...] = LAYERS) -> None:
        self.layers = layers
        self.tracks = [LoopTrack("video", clips[layer.clip], 1 / FPS, 90000) for layer in layers]  # smallest first
        self.transceiver = pc.addTransceiver(self.tracks[-1], direction="sendonly")
        self.transceiver.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in ("video/VP8", "video/rtx")])
        self.senders: list[RTCRtpSender] = []  # the other layers', once started
        self.rid_ids: list[RTCRtpHeaderExtensionParameters] = []  # given by offer()
        main = self.transceiver.sender
        main._send_keyframe = self.tracks[-1].request_keyframe  # PLI/FIR: restart this layer's loop at its keyframe
        _stamp(main, layers[-1].rid)
        self._start_main = main.send
        main.send = self._start
        self._close_pc = pc.close
        pc.close = self._close

    def offer(self, sdp: str) -> str:
        """The offer to send: aiortc's, with this camera's layers (:func:`offer_simulcast`)."""
        out, rid_id, rrid_id = offer_simulcast(sdp, tuple(layer.rid for layer in self.layers))
        # aiortc keeps only the header extensions it knows from the answer: these ids are the offer's,
        # which the SFU answers with
        self.rid_ids = [RTCRtpHeaderExtensionParameters(id=rid_id, uri=RID_URI), RTCRtpHeaderExtensionParameters(id=rrid_id, uri=RRID_URI)]
        return out

    async def _start(self, parameters: RTCRtpSendParameters) -> None:
        """aiortc starts the transceiver's sender (DTLS is up): start the other layers beside it."""
        parameters = replace(parameters, headerExtensions=[*parameters.headerExtensions, *self.rid_ids])
        main = self.transceiver.sender
        await self._start_main(parameters)
        if self.senders:
            return
        for layer, track in zip(self.layers[:-1], self.tracks):
            sender = RTCRtpSender(track, main.transport)
            sender._send_keyframe = track.request_keyframe
            _stamp(sender, layer.rid)
            self.senders.append(sender)
            await sender.send(replace(parameters, rtcp=replace(parameters.rtcp, ssrc=sender._ssrc)))

    async def _close(self) -> None:
        """The other layers' senders are no transceiver's: stop them with the connection."""
        for sender in self.senders:
            await sender.stop()
        await self._close_pc()

    @property
    def keyframes_sent(self) -> int:
        return sum(track.keyframes_sent for track in self.tracks)

    @property
    def keyframe_requests(self) -> int:
        return sum(track.keyframe_requests for track in self.tracks)


# -- the receiving side ----------------------------------------------------------------------------
KEYFRAME_HINT = 1200  # bytes: a keyframe's first packet is full (aiortc cuts at 1300); a small delta frame's is not


def vp8_keyframe_size(payload: bytes) -> tuple[int, int] | None:
    """(width, height) if ``payload`` (an RTP payload) starts a VP8 keyframe (RFC 7741, RFC 6386 9.1)."""
    pos = vp8_frame_start(payload)
    if pos is None:
        return None
    head = payload[pos : pos + 10]
    if len(head) < 10 or head[0] & 0x01 or head[3:6] != b"\x9d\x01\x2a":
        return None
    return int.from_bytes(head[6:8], "little") & 0x3FFF, int.from_bytes(head[8:10], "little") & 0x3FFF


class FrameSizes:
    """The picture size of each video a receiver gets: its last keyframe's.

    A receiver on the socket path decrypts only a sample of its packets
    (synth.py), which would miss most keyframes. But a keyframe's first
    packet is large (a full packet: even a 160x90 keyframe is ~2 KB) and
    starts a frame (an RTP timestamp not seen before on its SSRC), both read
    from the header SRTP leaves in the clear: :meth:`wants` asks for those to
    be decrypted too (a 640x360 stream's deltas also qualify: ~30 a second,
    one tile), and :meth:`note` reads a keyframe's size from what is
    decrypted. The SFU moves a tile between layers only at a keyframe, so the
    last keyframe's size is the layer the tile is on."""

    __slots__ = ("video_pts", "sizes", "_frame_ts")

    def __init__(self, video_pts: set[int]) -> None:
        self.video_pts = video_pts  # VP8 payload types of the subscribe connection (filled as offers come)
        self.sizes: dict[int, tuple[int, int] | None] = {}  # video SSRC -> size of its last keyframe
        self._frame_ts: dict[int, bytes] = {}  # SSRC -> RTP timestamp of the last large packet looked at

    def wants(self, data: bytes) -> bool:
        """Should this (SRTP) packet be decrypted: a large video packet starting a frame?"""
        if len(data) < KEYFRAME_HINT or (data[1] & 0x7F) not in self.video_pts:
            return False
        ssrc, ts = int.from_bytes(data[8:12], "big"), data[4:8]
        if self._frame_ts.get(ssrc) == ts:
            return False
        self._frame_ts[ssrc] = ts
        return True

    def seen(self, ssrc: int, payload_type: int) -> None:
        """A new SSRC arrived (clear header): a video one has no size yet."""
        if payload_type in self.video_pts:
            self.sizes.setdefault(ssrc, None)

    def note(self, plain: bytes, payload: Callable[[bytes], bytes]) -> None:
        """A decrypted packet: if it starts a VP8 keyframe, its SSRC's size."""
        if (plain[1] & 0x7F) in self.video_pts:
            size = vp8_keyframe_size(payload(plain))
            if size is not None:
                self.sizes[int.from_bytes(plain[8:12], "big")] = size

    def summary(self) -> dict[str, int]:
        """How many of its videos have each size, e.g. {"640x360": 1, "160x90": 8}; "?": no keyframe seen."""
        out: dict[str, int] = {}
        for size in self.sizes.values():
            key = "?" if size is None else f"{size[0]}x{size[1]}"
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: (kv[0] == "?", -_area(kv[0]))))


def _area(size: str) -> int:
    w, _, h = size.partition("x")
    return int(w) * int(h) if w.isdigit() and h.isdigit() else 0

