"""Loudest-N audio through the forwarding core (sans IO): who is forwarded,
silence dropped, and sequence numbers left contiguous for every subscriber."""

from __future__ import annotations

import struct

from aiortc.rtp import RtpPacket

from sfu.core.extensions import Ext
from sfu.core.rewriter import Rewriter
from sfu.core.speech import SILENCE, WINDOW
from sfu.routing.audio import SILENT_TAIL, AudioGate
from sfu.routing.forwarder import Forwarder, Inbound, Outlet
from sfu.routing.layout import TrackKey

OPUS = 111
KINDS = {1: Ext.MID, 2: Ext.AUDIO_LEVEL}


def opus_packet(seq: int, ts: int, level: int | None, ssrc: int = 7) -> bytes:
    ext = bytes([0x10, ord("0")]) + (bytes([0x20, level]) if level is not None else b"")
    ext += bytes(-len(ext) % 4)
    header = struct.pack("!BBHII", 0x90, OPUS, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    return header + struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext + bytes(40)


class Call:
    """N publishers' audio, one subscriber outlet each (the subscriber is not one of them)."""

    def __init__(self, publishers: int, loudest: int) -> None:
        self.gate = AudioGate(loudest)
        self.fwd: Forwarder[str] = Forwarder(audio=self.gate)
        self.inbounds = [Inbound(TrackKey(f"p{i}", "audio"), OPUS, KINDS) for i in range(publishers)]
        self.rewriters: list[Rewriter] = []
        for i, inbound in enumerate(self.inbounds):
            outlet: Outlet[str] = Outlet("audio", f"p{i}")
            rewriter = Rewriter(ssrc=100 + i, payload_type=OPUS, ext_ids={Ext.MID: 1, Ext.AUDIO_LEVEL: 2}, mid=str(i), clock_rate=48000)
            self.fwd.attach(outlet, inbound, 0.0)
            self.fwd.ready(outlet, rewriter, 0.0)
            self.rewriters.append(rewriter)
        self.seq = [1000 * i for i in range(publishers)]
        self.now = 0.0
        self.received: dict[str, list[RtpPacket]] = {f"p{i}": [] for i in range(publishers)}

    def run(self, seconds: float, levels: list[int | None]) -> dict[str, int]:
        """Every publisher sends a packet every 20 ms at its level; returns packets received per publisher."""
        counts = {f"p{i}": 0 for i in range(len(self.inbounds))}
        for _ in range(round(seconds / 0.02)):
            self.now += 0.02
            for i, (inbound, level) in enumerate(zip(self.inbounds, levels)):
                self.seq[i] += 1
                for sink, data in self.fwd.on_rtp(inbound, opus_packet(self.seq[i], self.seq[i] * 960, level), 0):
                    counts[sink] += 1
                    self.received[sink].append(RtpPacket.parse(data))
            self.gate.update(self.now)
        return counts


def test_silence_is_not_forwarded_after_a_short_tail() -> None:
    call = Call(2, loudest=3)
    counts = call.run(2.0, [30, SILENCE])
    assert counts == {"p0": 100, "p1": SILENT_TAIL}  # the silent one's first packets fade its decoder out
    counts = call.run(1.0, [SILENCE, SILENCE])
    assert counts == {"p0": SILENT_TAIL, "p1": 0}


def test_at_most_the_loudest_n_are_forwarded_and_a_clear_speaker_barges_in() -> None:
    call = Call(6, loudest=3)
    # everyone talks, at different levels: after the first window, only the three loudest
    call.run(1.0, [20, 25, 30, 45, 48, 50])
    counts = call.run(2.0, [20, 25, 30, 45, 48, 50])
    assert counts == {"p0": 100, "p1": 100, "p2": 100, "p3": 0, "p4": 0, "p5": 0}
    assert call.gate.speakers[:3] == ["p0", "p1", "p2"]
    # p2 falls quiet and p5 speaks up, loud: heard at once (barging in), then ranked in
    counts = call.run(WINDOW / 2, [20, 25, 70, 45, 48, 10])
    assert counts["p5"] == round(WINDOW / 2 / 0.02)
    call.run(1.0, [20, 25, 70, 45, 48, 10])  # p2's hang-over ends; p5 ranks above it
    counts = call.run(2.0, [20, 25, 70, 45, 48, 10])
    assert counts["p5"] == 100 and counts["p2"] == 0
    assert set(call.gate.speakers[:3]) == {"p0", "p1", "p5"}


def test_loudest_zero_forwards_everyone_but_silence() -> None:
    call = Call(5, loudest=0)
    counts = call.run(2.0, [20, 25, 30, 45, SILENCE])
    assert counts == {"p0": 100, "p1": 100, "p2": 100, "p3": 100, "p4": SILENT_TAIL}


def test_packets_without_a_level_are_forwarded() -> None:
    call = Call(5, loudest=1)
    counts = call.run(2.0, [20, None, None, None, SILENCE])
    assert counts["p1"] == counts["p2"] == counts["p3"] == 100


def test_sequence_numbers_stay_contiguous_across_what_was_dropped() -> None:
    """A subscriber sees no loss: sequence numbers without holes, while the
    timestamps keep the real time that passed (as Opus DTX sends them)."""
    call = Call(4, loudest=1)
    pattern = [[20, 60, 60, 60], [60, 20, 60, 60], [SILENCE, SILENCE, 20, 60], [20, SILENCE, SILENCE, 10]]
    for _ in range(3):
        for levels in pattern:
            call.run(1.5, list(levels))
    for sink, packets in call.received.items():
        assert packets, sink
        seqs = [p.sequence_number for p in packets]
        assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:])), sink
        stamps = [p.timestamp for p in packets]
        steps = {(b - a) & 0xFFFFFFFF for a, b in zip(stamps, stamps[1:])}
        assert 960 in steps and max(steps) > 960 * 10, sink  # gaps in time, none in sequence


def test_a_packet_reordered_behind_a_drop_is_dropped_not_misplaced() -> None:
    gate = AudioGate(1)
    fwd: Forwarder[str] = Forwarder(audio=gate)
    inbound = Inbound(TrackKey("a", "audio"), OPUS, KINDS)
    outlet: Outlet[str] = Outlet("audio", "sub")
    fwd.attach(outlet, inbound, 0.0)
    fwd.ready(outlet, Rewriter(ssrc=1, payload_type=OPUS, ext_ids={Ext.AUDIO_LEVEL: 2}, mid="0", clock_rate=48000), 0.0)
    out = [RtpPacket.parse(d).sequence_number for _, d in fwd.on_rtp(inbound, opus_packet(10, 0, 30), 0)]
    for seq in (12, 13, 14, 15):  # 12..15 silent: 3 forwarded as the tail, 15 dropped
        out += [RtpPacket.parse(d).sequence_number for _, d in fwd.on_rtp(inbound, opus_packet(seq, 0, SILENCE), 0)]
    out += [RtpPacket.parse(d).sequence_number for _, d in fwd.on_rtp(inbound, opus_packet(11, 0, 30), 0)]  # late
    out += [RtpPacket.parse(d).sequence_number for _, d in fwd.on_rtp(inbound, opus_packet(16, 0, 30), 0)]
    assert len(out) == 5
    assert out[1:4] == [out[0] + 2, out[0] + 3, out[0] + 4]  # 11 is a real hole here (lost upstream)...
    assert out[4] == out[0] + 5  # ...16 follows 14 at once; the late 11 came after a drop: dropped
