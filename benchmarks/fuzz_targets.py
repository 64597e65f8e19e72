"""Fuzz targets for every parser that takes bytes from a participant.

Each :class:`Target` pairs a Hypothesis strategy (arbitrary bytes mixed with
structured inputs that are then mutated, so that the deep branches are
reached) with a function that feeds one input to the SFU's code and checks
what comes out. A target raises only when it finds a defect: an exception
other than the documented refusal (``ValueError`` from the RTP parser and
the rewriter's constructor, ``SignalingError`` from signaling and the SDP
check), or an output that breaks an invariant (AssertionError).

Used by ``benchmarks/fuzz.py`` (100,000+ cases per target) and by the short
seeded pass in ``tests/fuzz``.
"""

from __future__ import annotations

import asyncio
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hypothesis import strategies as st

from sfu.core.extensions import URIS as _URIS
from sfu.core.extensions import Ext, kinds_by_id
from sfu.core.packet import RtpView, is_vp8_keyframe_start
from sfu.core.rewriter import Rewriter
from sfu.core.rtx import original_sequence_number, unwrap_rtx
from sfu.core.sequence import MAX_DROPOUT, SequenceGuard
from sfu.feedback.rtcp import sender_reports
from sfu.routing.forwarder import Forwarder, Inbound, Outlet
from sfu.routing.layout import TrackKey
from sfu.signaling.messages import ClientMessage, SignalingError, parse_client_message
from sfu.signaling.sdp_check import check_publish_offer

SDP_DIR = Path(__file__).resolve().parent.parent / "tests" / "fuzz" / "sdp"

URIS = {kind: uri for uri, kind in _URIS.items()}


@dataclass(frozen=True)
class Target:
    name: str
    strategy: st.SearchStrategy[Any]
    run: Callable[[Any], None]  # raises only on a defect
    expected: str  # the documented refusal, for the report


# -- RTP packets -----------------------------------------------------------------
def _mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    """Apply (kind, position, value) edits: flip a byte, truncate, insert, drop."""
    buf = bytearray(data)
    for kind, pos, value in ops:
        if not buf:
            buf.append(value)
            continue
        i = pos % (len(buf) + (kind == 2))
        if kind == 0:
            buf[i % len(buf)] ^= value or 1
        elif kind == 1:
            del buf[i:]
        elif kind == 2:
            buf.insert(i, value)
        else:
            del buf[i % len(buf)]
    return bytes(buf)


_mutations = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2000), st.integers(0, 255)), max_size=4)


@st.composite
def _one_byte_elements(draw: st.DrawFn) -> bytes:
    out = b""
    for _ in range(draw(st.integers(0, 5))):
        choice = draw(st.integers(0, 9))
        if choice == 0:
            out += b"\x00" * draw(st.integers(1, 3))  # padding
        else:
            ext_id = draw(st.sampled_from([1, 2, 3, 4, 9, 14, 15, 0]))
            value = draw(st.binary(min_size=1, max_size=16))
            length = len(value) - 1 if draw(st.integers(0, 7)) else draw(st.integers(0, 15))
            out += bytes([ext_id << 4 | length]) + value
    return out


@st.composite
def _two_byte_elements(draw: st.DrawFn) -> bytes:
    out = b""
    for _ in range(draw(st.integers(0, 4))):
        if not draw(st.integers(0, 6)):
            out += b"\x00"
            continue
        ext_id = draw(st.sampled_from([1, 2, 3, 4, 15, 16, 200, 255]))
        value = draw(st.binary(max_size=20))
        length = len(value) if draw(st.integers(0, 7)) else draw(st.integers(0, 255))
        out += bytes([ext_id, length]) + value
    return out


@st.composite
def _vp8_payload(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=40))
    desc = draw(st.sampled_from([0x10, 0x90, 0x00, 0x80, 0x11, 0x30]))
    out = bytes([desc])
    if desc & 0x80:
        x = draw(st.sampled_from([0x80, 0x40, 0x20, 0xF0, 0x00, 0xC0]))
        out += bytes([x])
        if x & 0x80:
            out += draw(st.sampled_from([b"\x05", b"\x81\x02"]))
        if x & 0x40:
            out += b"\x07"
        if x & 0x30:
            out += b"\x20"
    return out + draw(st.binary(max_size=30))


@st.composite
def valid_rtp(draw: st.DrawFn, payload_type: int | None = None) -> bytes:
    """A well-formed RTP packet: CSRCs, an extension block, padding as drawn."""
    cc = draw(st.integers(0, 15)) if not draw(st.integers(0, 4)) else 0
    pt = payload_type if payload_type is not None else draw(st.sampled_from([96, 111, 97, 0, 127, 63]))
    marker = draw(st.booleans())
    seq = draw(st.integers(0, 0xFFFF))
    ts = draw(st.integers(0, 0xFFFFFFFF))
    ssrc = draw(st.sampled_from([0x1234ABCD, 0, 0xFFFFFFFF]) | st.integers(0, 0xFFFFFFFF))
    ext = b""
    profile = draw(st.sampled_from([None, 0xBEDE, 0xBEDE, 0x1000, 0x1003, 0xABCD]))
    if profile is not None:
        body = draw(_one_byte_elements()) if profile == 0xBEDE else draw(_two_byte_elements())
        body += b"\x00" * (-len(body) % 4)
        ext = struct.pack("!HH", profile, len(body) // 4) + body
    payload = draw(_vp8_payload())
    pad = b""
    if draw(st.integers(0, 5)) == 0:
        n = draw(st.integers(1, 8))
        pad = b"\x00" * (n - 1) + bytes([n])
    b0 = 0x80 | (0x20 if pad else 0) | (0x10 if ext else 0) | cc
    head = struct.pack("!BBHII", b0, pt | (0x80 if marker else 0), seq, ts, ssrc)
    return head + draw(st.binary(min_size=4 * cc, max_size=4 * cc)) + ext + payload + pad


any_rtp = st.one_of(
    st.binary(max_size=80),
    valid_rtp(),
    st.builds(_mutate, valid_rtp(), _mutations),
)

_EXT_MAPS = [
    {},
    {4: Ext.MID, 2: Ext.ABS_SEND_TIME, 1: Ext.AUDIO_LEVEL},  # Chromium's ids
    {1: Ext.MID, 3: Ext.ABS_SEND_TIME, 2: Ext.AUDIO_LEVEL},  # aiortc's ids
    {15: Ext.MID, 200: Ext.AUDIO_LEVEL, 16: Ext.ABS_SEND_TIME},
]
ext_maps = st.sampled_from(_EXT_MAPS) | st.dictionaries(st.integers(0, 255), st.sampled_from(list(Ext)), max_size=4)


def check_view(view: RtpView, data: bytes) -> None:
    assert view.data is data
    assert 0 <= view.payload_type <= 127 and 0 <= view.sequence_number <= 0xFFFF
    assert 0 <= view.timestamp <= 0xFFFFFFFF and 0 <= view.ssrc <= 0xFFFFFFFF
    assert len(view.payload) <= len(data) - 12
    assert view.audio_level is None or len(view.audio_level) == 1
    assert view.mid is None or isinstance(view.mid, str)


def run_rtp_parse(case: tuple[bytes, dict[int, Ext]]) -> None:
    data, kinds = case
    try:
        view = RtpView.parse(data, kinds)
    except ValueError:
        return
    check_view(view, data)


def run_vp8(payload: bytes) -> None:
    assert is_vp8_keyframe_start(payload) in (True, False)
    assert is_vp8_keyframe_start(memoryview(payload)) is is_vp8_keyframe_start(payload)


# -- the rewriter ----------------------------------------------------------------
@st.composite
def _subscriber_ids(draw: st.DrawFn) -> dict[Ext, int]:
    """A negotiation gives each extension its own id (0 and 15..20 cannot be written in one byte)."""
    ids = draw(st.lists(st.integers(0, 20), min_size=3, max_size=3, unique=True))
    kinds = draw(st.lists(st.sampled_from(list(Ext)), max_size=3, unique=True))
    return {kind: ids[i] for i, kind in enumerate(kinds)}


# what the SFU offers a subscriber: never 64..95, which RFC 5761 leaves to RTCP
_payload_types = st.integers(0, 63) | st.integers(96, 127)


@st.composite
def rewriter_case(draw: st.DrawFn) -> dict[str, Any]:
    rtx = draw(st.booleans())
    config = dict(
        ssrc=draw(st.integers(0, 0xFFFFFFFF)),
        payload_type=draw(_payload_types),
        ext_ids=draw(_subscriber_ids()),
        mid=draw(st.text(min_size=1, max_size=16).filter(lambda m: len(m.encode()) <= 16) | st.text(max_size=20)),
        rtx_ssrc=draw(st.integers(0, 0xFFFFFFFF)) if rtx else None,
        rtx_payload_type=draw(_payload_types) if rtx else None,
        first_sequence_number=draw(st.none() | st.integers(0, 0xFFFF)),
        first_timestamp=draw(st.none() | st.integers(0, 0xFFFFFFFF)),
        clock_rate=draw(st.sampled_from([90000, 48000, 8000])),
    )
    op = st.one_of(
        st.tuples(st.just("rtp"), any_rtp, ext_maps, st.integers(0, 2**32)),
        st.tuples(st.just("switch"), st.integers(0, 1000)),
        st.tuples(st.just("rtx"), st.integers(0, 50)),
        st.tuples(st.just("nack"), st.integers(0, 0xFFFF) | st.integers(-3, 3)),
    )
    return {"config": config, "ops": draw(st.lists(op, max_size=12))}


def _check_rewritten(out: bytes, view: RtpView, rw: Rewriter, ids: dict[Ext, int], rtx: bool) -> None:
    parsed = RtpView.parse(out, {i: k for k, i in ids.items() if 1 <= i <= 14})
    assert parsed.marker == view.marker
    assert parsed.timestamp == (view.timestamp + rw.ts_offset) & 0xFFFFFFFF
    mid_written = 1 <= ids.get(Ext.MID, 0) <= 14
    assert parsed.mid == (rw.mid if mid_written else None)
    level_written = 1 <= ids.get(Ext.AUDIO_LEVEL, 0) <= 14 and view.audio_level is not None
    assert parsed.audio_level == (view.audio_level if level_written else None)
    osn = (view.sequence_number + rw.seq_offset) & 0xFFFF
    if rtx:
        assert parsed.ssrc == rw.rtx_ssrc and parsed.payload_type == rw.rtx_payload_type
        assert bytes(parsed.payload) == struct.pack("!H", osn) + bytes(view.payload)
    else:
        assert parsed.ssrc == rw.ssrc and parsed.payload_type == rw.payload_type
        assert parsed.sequence_number == osn
        assert bytes(parsed.payload) == bytes(view.payload)


def run_rewriter(case: dict[str, Any]) -> None:
    config = case["config"]
    try:
        rw = Rewriter(**config)
    except ValueError:
        return  # a MID that does not fit (documented)
    views: list[RtpView] = []
    for op in case["ops"]:
        if op[0] == "rtp":
            try:
                view = RtpView.parse(op[1], op[2])
            except ValueError:
                continue
            views.append(view)
            _check_rewritten(rw.rewrite(view, op[3]), view, rw, config["ext_ids"], rtx=False)
        elif op[0] == "switch":
            rw.switch_source(op[1])
        elif op[0] == "rtx" and views:
            view = views[op[1] % len(views)]
            out = rw.rtx(view, 12345)
            if out is not None:
                _check_rewritten(out, view, rw, config["ext_ids"], rtx=True)
            rw.precedes_epoch(view)
        elif op[0] == "nack":
            original = rw.original_sequence_number(op[1])
            if original is not None:
                assert 0 <= original <= 0xFFFF and (original + rw.seq_offset) & 0xFFFF == op[1] & 0xFFFF
    assert 0 <= rw.last_sequence_number <= 0xFFFF and 0 <= rw.rtx_sequence_number <= 0xFFFF


# -- the native Rewriter against the reference (sfu/native) ---------------------------
_STATE = ("ssrc", "payload_type", "mid", "rtx_ssrc", "rtx_payload_type", "clock_rate", "gap", "packets_sent",
          "octets_sent", "last_sequence_number", "last_timestamp", "rtx_sequence_number", "seq_offset", "ts_offset")  # fmt: skip


def run_rewriter_native(case: dict[str, Any]) -> None:
    """The same operations through both Rewriters: every output, answer and state equal."""
    import random

    import sfu.native as native

    if not native.AVAILABLE:
        return
    config = case["config"]
    outcomes = []
    for cls in (Rewriter, native.Rewriter):
        random.seed(7)  # the defaults are drawn in the same order
        try:
            outcomes.append(cls(**config))
        except ValueError as exc:
            outcomes.append(str(exc))
    ref, nat = outcomes
    if isinstance(ref, str) or isinstance(nat, str):
        assert ref == nat  # both refuse, with the same sentence
        return
    views: list[RtpView] = []
    for op in case["ops"]:
        if op[0] == "rtp":
            try:
                view = RtpView.parse(op[1], op[2])
            except ValueError:
                continue
            views.append(view)
            assert nat.precedes_epoch(view) == ref.precedes_epoch(view)
            assert nat.rewrite(view, op[3]) == ref.rewrite(view, op[3])
        elif op[0] == "switch":
            ref.switch_source(op[1])
            nat.switch_source(skip=op[1])
        elif op[0] == "rtx" and views:
            view = views[op[1] % len(views)]
            assert nat.rtx(view, 4242) == ref.rtx(view, 4242)
        elif op[0] == "nack":
            assert nat.original_sequence_number(op[1] & 0xFFFF) == ref.original_sequence_number(op[1] & 0xFFFF)
        assert tuple(getattr(nat, n) for n in _STATE) == tuple(getattr(ref, n) for n in _STATE)


# -- the sequence guard ----------------------------------------------------------
_steps = st.lists(st.integers(-150, 3200) | st.integers(0, 0xFFFF) | st.sampled_from([1, 1, 1, 0]), max_size=60)


def run_sequence_guard(case: tuple[int, list[int]]) -> None:
    start, steps = case
    guard = SequenceGuard()
    seq = start
    for step in [0, *steps]:
        seq = (seq + step) & 0xFFFF
        before = guard.highest
        accepted = guard.accept(seq)
        assert accepted in (True, False)
        assert guard.highest is not None and 0 <= guard.highest <= 0xFFFF
        if before is not None and 0 < (seq - before) & 0xFFFF < MAX_DROPOUT:
            assert accepted and guard.highest == seq  # ordinary progress always passes


# -- the forwarder -----------------------------------------------------------------
_FWD_KINDS = {4: Ext.MID, 2: Ext.ABS_SEND_TIME}
_SUB_IDS = [{Ext.MID: 1, Ext.ABS_SEND_TIME: 3}, {Ext.MID: 9, Ext.AUDIO_LEVEL: 2}]


@st.composite
def forwarder_case(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    op = st.one_of(
        st.tuples(st.just("rtp"), valid_rtp(96) | valid_rtp(97) | any_rtp | st.builds(_mutate, valid_rtp(96), _mutations)),
        st.tuples(st.just("nack"), st.integers(0, 1), st.lists(st.integers(0, 0xFFFF) | st.integers(0, 600), max_size=40)),
        st.tuples(st.just("pli"), st.integers(0, 1)),
        st.tuples(st.just("attach"), st.integers(0, 1), st.booleans()),
        st.tuples(st.just("tick"), st.floats(0, 3)),
        st.tuples(st.just("pace")),
        st.tuples(st.just("hold"), st.integers(0, 1), st.booleans()),
    )
    return draw(st.lists(op, max_size=25))


def run_forwarder(ops: list[tuple[Any, ...]]) -> None:
    fwd: Forwarder[str] = Forwarder()
    inbound: Inbound[str] = Inbound(TrackKey("pub", "video"), 96, _FWD_KINDS, rtx_payload_type=97)
    outlets = [Outlet("video", f"sink{i}") for i in range(2)]
    now = 100.0
    sent: list[tuple[str, bytes]] = []
    for i, outlet in enumerate(outlets):
        fwd.attach(outlet, inbound, now)
        rtx = (0xBBBB0000 + i, 97) if i == 0 else (None, None)
        rw = Rewriter(0xAAAA0000 + i, 100 + i, _SUB_IDS[i], f"m{i}", rtx[0], rtx[1], 1000 * i, 5000 * i)
        sent += fwd.ready(outlet, rw, now)[0]
    for op in ops:
        if op[0] == "rtp":
            sent += fwd.on_rtp(inbound, op[1], 777)
        elif op[0] == "nack":
            outlet = outlets[op[1]]
            rw = outlet.rewriter
            last = rw.last_sequence_number if rw is not None else 0
            # small numbers are taken as "this many back from the newest sent"
            lost = [(last - x) & 0xFFFF if x <= 600 else x for x in op[2]]
            sent += fwd.on_nack(outlet, lost, now)
        elif op[0] == "pli":
            result = fwd.on_picture_loss(outlets[op[1]], now)
            assert result is None or result is inbound
        elif op[0] == "attach":
            sent += fwd.attach(outlets[op[1]], inbound if op[2] else None, now)[0]
        elif op[0] == "pace":
            sent += fwd.pace(now)
            due = fwd.next_due(now)
            assert due is None or due >= 0
        elif op[0] == "hold":
            (fwd.hold if op[2] else fwd.release)(outlets[op[1]])
        else:
            now += op[1]
    sent += fwd.pace(now + 60)  # whatever is still queued
    sinks = {o.sink: i for i, o in enumerate(outlets)}
    for sink, packet in sent:
        i = sinks[sink]
        view = RtpView.parse(packet, kinds_by_id((v, URIS[k]) for k, v in _SUB_IDS[i].items()))
        assert view.ssrc in (0xAAAA0000 + i, 0xBBBB0000 + i)
        assert view.mid == f"m{i}"


# -- RTCP from a subscriber, through aiortc's parser into the SFU's handler ---------
SENDER_SSRC_MARK = b"\x5f\x5f\x5f\x5f"  # replaced by the hooked sender's SSRC before parsing


@st.composite
def rtcp_compound(draw: st.DrawFn) -> bytes:
    out = b""
    ssrc_field = st.sampled_from([SENDER_SSRC_MARK, SENDER_SSRC_MARK, b"\x00\x00\x00\x00"]) | st.binary(min_size=4, max_size=4)
    for _ in range(draw(st.integers(1, 3))):
        ptype, fmt = draw(st.sampled_from([(205, 1), (206, 1), (206, 4), (206, 15), (201, 1), (200, 1), (203, 1), (202, 1), (204, 0), (207, 0)]))
        if ptype in (205, 206):
            body = draw(ssrc_field) + draw(ssrc_field)  # sender ssrc, media ssrc
            if ptype == 205:  # generic NACK entries: PID and a bitmask of the 16 after it
                for _ in range(draw(st.integers(0, 6))):
                    body += struct.pack("!HH", draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF)))
            elif fmt == 15:  # REMB
                n = draw(st.integers(0, 3))
                body += b"REMB" + bytes([n]) + draw(st.binary(min_size=3, max_size=3))
                body += b"".join(draw(ssrc_field) for _ in range(n))
            elif fmt == 4:  # FIR
                body += draw(ssrc_field) + draw(st.binary(min_size=4, max_size=4))
        elif ptype in (200, 201):
            fmt = draw(st.integers(0, 2))
            body = draw(ssrc_field) + (draw(st.binary(min_size=20, max_size=20)) if ptype == 200 else b"")
            for _ in range(fmt):
                body += draw(ssrc_field) + draw(st.binary(min_size=20, max_size=20))
        else:
            body = draw(ssrc_field) + draw(st.binary(max_size=24))
        body += b"\x00" * (-len(body) % 4)
        out += struct.pack("!BBH", 0x80 | fmt, ptype, len(body) // 4) + body
    return out


any_rtcp = st.one_of(st.binary(max_size=80), rtcp_compound(), st.builds(_mutate, rtcp_compound(), _mutations))


class RtcpHarness:
    """An aiortc subscriber-side sender, hooked as the SFU hooks it, never connected.

    Its DTLS transport is real but not started: RTCP goes in through
    ``RTCDtlsTransport._handle_rtcp_data`` (aiortc's parser and router, as
    for a received SRTCP packet once decrypted), reaches the egress hook,
    and RTX answers go to a real TransportSink, which drops them because the
    subscriber is not connected.
    """

    def __init__(self) -> None:
        from aiortc import RTCCertificate, RTCDtlsTransport, RTCIceGatherer, RTCIceTransport, RTCRtpSender
        from aiortc.rtcrtpparameters import (
            RTCRtpCodecParameters,
            RTCRtpHeaderExtensionParameters,
            RTCRtpSendParameters,
        )

        from sfu.rtc.egress import hook_sender
        from sfu.rtc.reports import SenderReports
        from sfu.rtc.sink import TransportSink

        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)  # aiortc's constructors look the loop up
        self.dtls = RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()])
        self.sender = RTCRtpSender("video", self.dtls)
        params = RTCRtpSendParameters(
            codecs=[
                RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96),
                RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=97, parameters={"apt": 96}),
            ],
            headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u) for i, u in [(1, URIS[Ext.MID]), (3, URIS[Ext.ABS_SEND_TIME])]],
            muxId="1",
        )
        self.forwarder: Forwarder[TransportSink] = Forwarder()
        self.sink = TransportSink(self.dtls)
        self.outlet: Outlet[TransportSink] = Outlet("video", self.sink)
        self.inbound: Inbound[TransportSink] = Inbound(TrackKey("pub", "video"), 96, _FWD_KINDS)
        self.keyframe_requests = 0
        self.reports = SenderReports()
        self.delivered = 0
        hook_sender(self.sender, self.outlet, self.forwarder, self._request_keyframe, self.reports, self._deliver)
        self.forwarder.attach(self.outlet, self.inbound, 0.0)
        # what aiortc does once the subscriber's DTLS is up: the hook registers
        # the sender with its transport (RTCP routing) and starts its rewriter
        self.loop.run_until_complete(self.sender.send(params))
        assert self.outlet.rewriter is not None
        for seq in range(200):  # a cached stream, so NACKs find packets to retransmit
            data = struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, 0x1234) + (b"\x10\x00" if seq % 50 == 0 else b"\x00\x01") + bytes(100)
            self.forwarder.on_rtp(self.inbound, data, 0)
        self.mark = struct.pack("!I", self.sender._ssrc)

    def _deliver(self, packets: list[tuple[Any, bytes]]) -> None:
        self.delivered += len(packets)
        for sink, packet in packets:
            sink.send(packet)

    def _request_keyframe(self, inbound: Inbound[Any]) -> None:
        assert inbound is self.inbound
        self.keyframe_requests += 1

    def feed(self, data: bytes) -> None:
        data = data.replace(SENDER_SSRC_MARK, self.mark)
        self.loop.run_until_complete(self.dtls._handle_rtcp_data(data))

    def close(self) -> None:
        self.reports.close()
        self.sink.close()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()
        asyncio.set_event_loop(None)


_rtcp_harness: RtcpHarness | None = None


def rtcp_harness() -> RtcpHarness:
    """The one harness the rtcp target feeds (made on first use)."""
    global _rtcp_harness
    if _rtcp_harness is None:
        _rtcp_harness = RtcpHarness()
    return _rtcp_harness


def close_rtcp_harness() -> None:
    global _rtcp_harness
    if _rtcp_harness is not None:
        _rtcp_harness.close()
        _rtcp_harness = None


def run_rtcp(data: bytes) -> None:
    rtcp_harness().feed(data)


# -- RTX from a publisher, and its sender reports (sfu/core/rtx.py, sfu/feedback/rtcp.py) --
def run_rtx_unwrap(case: tuple[bytes, dict[int, Ext]]) -> None:
    data, kinds = case
    osn = original_sequence_number(data)
    assert osn is None or 0 <= osn <= 0xFFFF
    try:
        rtx = RtpView.parse(data, kinds)
    except ValueError:
        return
    view = unwrap_rtx(rtx, 96, 0x01020304, kinds)
    if view is not None:
        assert view.ssrc == 0x01020304 and view.payload_type == 96 and view.marker == rtx.marker
        assert view.sequence_number == osn
        assert bytes(view.payload) == bytes(rtx.payload[2:])


def run_sender_reports(data: bytes) -> None:
    try:
        reports = sender_reports(data.replace(SENDER_SSRC_MARK, b"\x01\x02\x03\x04"))
    except ValueError:
        return
    for ssrc, ntp in reports:
        assert 0 <= ssrc <= 0xFFFFFFFF and 0 <= ntp < 2**64


# -- the publish-offer check ---------------------------------------------------------
_offers: list[str] = []


def sample_offers() -> list[str]:
    """Real offers (aiortc, Chromium, Firefox ESR) captured on loopback, CRLF kept."""
    if not _offers:
        for path in sorted(SDP_DIR.glob("*.sdp")):
            with path.open(newline="") as f:
                _offers.append(f.read())
    return _offers


_SDP_LINES = st.sampled_from([
    "m=video 9 UDP/TLS/RTP/SAVPF 96", "m=audio 0 RTP/AVP 0", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "m=video", "m=", "a=mid:", "a=mid:0", "a=mid:1", "a=group:BUNDLE", "a=group:BUNDLE 0 1 2", "a=group:",
    "a=rtpmap:96 VP8/90000", "a=rtpmap:96", "a=rtpmap:x", "a=fmtp:97 apt=96", "a=fmtp:97 apt=", "a=fmtp:",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid", "a=extmap:x", "a=extmap:", "a=ssrc:1 cname:x", "a=ssrc:",
    "a=ssrc-group:FID 1 2", "a=ssrc-group:FID", "a=candidate:1 1 udp 1 127.0.0.1 9 typ host", "a=candidate:1",
    "a=candidate:", "c=IN IP4", "c=", "a=fingerprint:sha-256", "a=fingerprint:", "a=setup:", "a=setup:bogus",
    "a=rtcp-mux", "a=rtcp:9", "a=rtcp:", "a=ice-ufrag:", "a=ice-pwd:", "a=sctp-port:x", "a=max-message-size:x",
    "a=rtcp-fb:96 nack", "a=rtcp-fb:", "a=msid:", "a=sendrecv", "a=inactive", "o=", "t=", "s=", "v=1", "b=AS:x",
])


@st.composite
def mutated_offer(draw: st.DrawFn) -> tuple[str, list[tuple[str, str | None]]]:
    offers = sample_offers()
    lines = draw(st.sampled_from(offers)).split("\r\n")
    for _ in range(draw(st.integers(0, 6))):
        if not lines:
            lines = [""]
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.integers(0, 7))
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[i])
        elif op == 2:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3:
            lines.insert(i, draw(_SDP_LINES))
        elif op == 4:
            lines[i] = draw(_SDP_LINES) + draw(st.text(max_size=12))
        elif op == 5:
            cut = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:cut] + draw(st.text(max_size=8)) + lines[i][cut:]
        elif op == 6:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        else:
            del lines[i:]
    text = draw(st.sampled_from(["\r\n", "\n", "\r"])).join(lines)
    current = draw(st.sampled_from([[], [("audio", "0")], [("audio", "0"), ("video", "1")], [("video", None)]]))
    return text, current


def run_sdp_check(case: tuple[str, list[tuple[str, str | None]]]) -> None:
    try:
        check_publish_offer(*case)
    except SignalingError as exc:
        assert exc.code == "bad_sdp" and exc.message


# -- signaling messages ---------------------------------------------------------------
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def client_message(draw: st.DrawFn) -> str:
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return draw(st.text(max_size=60))
    if choice == 1:  # a message object with the fields that matter, other values arbitrary
        msg = draw(st.dictionaries(st.sampled_from(["type", "sdp", "x"]), _json_values, max_size=3))
        if draw(st.booleans()):
            msg["type"] = draw(st.sampled_from(["publish", "subscribe_answer", "leave", "", "PUBLISH"]))
        if draw(st.booleans()):
            msg["sdp"] = draw(st.sampled_from(["v=0\r\n", " v=0", "", "  ", "x"]) | st.text(max_size=10))
        return json.dumps(msg, ensure_ascii=draw(st.booleans()))
    if choice == 2:  # deep nesting, inside or outside an object
        depth = draw(st.integers(1, 200_000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        text = opener * depth + draw(st.sampled_from(["", "1", "null"])) + closer * draw(st.integers(0, depth))
        return '{"type": "publish", "sdp": ' + text + "}" if draw(st.booleans()) else text
    if choice == 3:  # numbers JSON allows but Python may refuse to convert
        digits = "1" * draw(st.integers(1, 10_000))
        num = draw(st.sampled_from([digits, "-" + digits, digits + ".5", "1e" + digits[:400], "0." + digits]))
        return '{"type": "leave", "n": ' + num + "}"
    if choice == 4:
        return draw(st.sampled_from(["NaN", "Infinity", "-Infinity", '"\\ud800"', '{"type": "\\ud800"}', "\x00", "{}", "[]"]))
    return _mutate(json.dumps({"type": "publish", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"}).encode(),
                   draw(_mutations)).decode("utf-8", "replace")


def run_signaling(text: str) -> None:
    try:
        msg: ClientMessage = parse_client_message(text)
    except SignalingError as exc:
        assert exc.code in ("bad_request", "bad_sdp") and exc.message
        return
    assert type(msg).__name__ in ("Publish", "SubscribeAnswer", "Leave")


TARGETS: list[Target] = [
    Target("rtp_parse", st.tuples(any_rtp, ext_maps), run_rtp_parse, "ValueError"),
    Target("vp8_keyframe", _vp8_payload() | st.binary(max_size=8), run_vp8, "none (never raises)"),
    Target("rewriter", rewriter_case(), run_rewriter, "ValueError (bad MID at construction)"),
    Target("rewriter_native", rewriter_case(), run_rewriter_native, "ValueError (same as the reference)"),
    Target("sequence_guard", st.tuples(st.integers(0, 0xFFFF), _steps), run_sequence_guard, "none"),
    Target("forwarder", forwarder_case(), run_forwarder, "none (bad packets dropped)"),
    Target("rtx_unwrap", st.tuples(any_rtp, ext_maps), run_rtx_unwrap, "ValueError (from RtpView.parse)"),
    Target("rtcp", any_rtcp, run_rtcp, "none (aiortc drops unparsable RTCP)"),
    Target("sender_reports", any_rtcp, run_sender_reports, "ValueError"),
    Target("sdp_check", mutated_offer(), run_sdp_check, "SignalingError bad_sdp"),
    Target("signaling", client_message(), run_signaling, "SignalingError"),
]

__all__ = ["TARGETS", "Target", "RtcpHarness", "close_rtcp_harness", "rtcp_harness"]
