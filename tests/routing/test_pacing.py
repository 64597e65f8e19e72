"""Paced replays and bounded NACKs in the forwarding core, time passed in."""

from __future__ import annotations

import struct

from aiortc.rtp import RtpPacket, unwrap_rtx

from sfu.core.cache import VIDEO_CAPACITY, PacketCache
from sfu.core.nack import MAX_NACK_ENTRIES, RESEND_INTERVAL
from sfu.core.pacer import PACE_INTERVAL
from sfu.routing.forwarder import (
    PACE_BURST,
    PACE_FACTOR,
    PACE_FLOOR,
    RTX_BURST_MIN,
    RTX_BURST_SECONDS,
    RTX_FLOOR,
    Forwarder,
    Inbound,
    Outlet,
)
from sfu.routing.layout import TrackKey
from tests.routing.test_forwarder import KINDS, VP8, subscriber

PACKETS_PER_FRAME = 4
FPS = 30
SIZE = 1100  # payload bytes: a camera's full-size packets
STREAM_RATE = PACKETS_PER_FRAME * FPS * (SIZE + 24)  # bytes/s on the wire, ~1.1 Mbit/s
REPLAYED = 320  # packets since the keyframe a late joiner is replayed (2.7 s: within the cache's age bound)
MEASURED = 1.05 * STREAM_RATE  # what the forwarder measures it as, at most (over 31 frames of 30 intervals)


def video_packet(seq: int, keyframe: bool) -> bytes:
    """Packet ``seq`` of a 30 fps stream of 4 packets per frame."""
    frame, part = divmod(seq, PACKETS_PER_FRAME)
    start = part == 0
    descriptor = bytes([0x10 if start else 0x00])
    vp8 = bytes([0x00 if keyframe else 0x01, 0, 0]) if start else b""
    payload = descriptor + vp8 + bytes(SIZE - len(descriptor) - len(vp8))
    ext = bytes([0x10, ord("0"), 0x32, 0, 0, 0, 0, 0])
    header = struct.pack("!BBHII", 0x90, VP8, seq & 0xFFFF, (frame * 3000) & 0xFFFFFFFF, 1111)
    return header + struct.pack("!HH", 0xBEDE, 2) + ext + payload


def publish(fwd: Forwarder[str], inbound: Inbound[str], seqs: range, keyframe_at: int) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for seq in seqs:
        out += fwd.on_rtp(inbound, video_packet(seq, keyframe=seq == keyframe_at), 0)
    return out


def drive(fwd: Forwarder[str], start: float, live: list[tuple[float, int]], inbound: Inbound[str]) -> list[tuple[float, str, bytes]]:
    """Run the pacer as the glue does (release at each due time), feeding
    live packets ``(at, seq)`` in between; every packet sent, with its time."""
    sent: list[tuple[float, str, bytes]] = []
    now = start
    pending = list(live)
    while True:
        due = fwd.next_due(now)
        if pending and (due is None or pending[0][0] <= due):
            now, seq = pending.pop(0)
            sent += [(now, s, p) for s, p in fwd.on_rtp(inbound, video_packet(seq, False), 0)]
            continue
        if due is None:
            return sent
        assert due >= now
        now = due
        sent += [(now, s, p) for s, p in fwd.pace(now)]


def test_a_late_joiners_replay_is_paced_and_live_packets_wait_behind_it_in_order() -> None:
    fwd: Forwarder[str] = Forwarder()
    inbound: Inbound[str] = Inbound(TrackKey("alice", "video"), VP8, KINDS)
    early, early_rw = subscriber("early")
    fwd.attach(early, inbound, 0.0)
    fwd.ready(early, early_rw, 0.0)
    publish(fwd, inbound, range(0, 20), keyframe_at=0)
    publish(fwd, inbound, range(20, 20 + REPLAYED), keyframe_at=20)  # since the keyframe: 2.7 s of video
    late, late_rw = subscriber("late")
    fwd.attach(late, inbound, 10.0)
    now_out, want_keyframe = fwd.ready(late, late_rw, 10.0)
    assert want_keyframe
    # the first burst at once, no more
    assert 0 < sum(len(p) for _, p in now_out) <= PACE_BURST
    assert late.paced is not None and late.held and early.paced is None
    # live packets keep coming at the stream's rate while the replay drains
    live = [(10.0 + i / (PACKETS_PER_FRAME * FPS), 20 + REPLAYED + i) for i in range(400)]
    sent = drive(fwd, 10.0, live, inbound)
    to_late = [(at, p) for at, s, p in sent if s == "late"]
    to_early = [(at, p) for at, s, p in sent if s == "early"]
    # the early subscriber is not held up by anyone's replay: one packet per live packet, at once
    assert len(to_early) == len(live)
    # the late joiner gets the whole replay then the live packets, in order, continuous
    seqs = [RtpPacket.parse(p).sequence_number for p in [p for _, p in now_out] + [p for _, p in to_late]]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(REPLAYED + len(live))]
    # never faster than the bucket allows (live packets ride free on top of it)
    rate = max(PACE_FLOOR, PACE_FACTOR * MEASURED)
    paced = sum(len(p) for _, p in now_out)
    replayed = 0
    for at, packet in to_late:
        if replayed + len(now_out) < REPLAYED:
            replayed += 1
            paced += len(packet)
            assert paced <= PACE_BURST + rate * (at - 10.0) + 1e-6
    # it took a while (paced), and far less than the replay's own duration
    end_of_replay = to_late[REPLAYED - len(now_out) - 1][0] - 10.0
    assert 0.5 * REPLAYED * (SIZE + 24) / rate <= end_of_replay <= 1.5 * REPLAYED * (SIZE + 24) / rate
    # the backlog is gone: the late joiner is back to direct forwarding
    assert late.paced is None and not late.held and fwd.next_due(20.0) is None
    assert [s for s, _ in publish(fwd, inbound, range(20 + REPLAYED + 400, 21 + REPLAYED + 400), keyframe_at=-1)] == ["early", "late"]


def test_changing_source_drops_the_backlog_of_the_old_one() -> None:
    fwd: Forwarder[str] = Forwarder()
    alice: Inbound[str] = Inbound(TrackKey("alice", "video"), VP8, KINDS)
    publish(fwd, alice, range(0, 300), keyframe_at=0)
    late, rw = subscriber("late")
    fwd.attach(late, alice, 1.0)
    fwd.ready(late, rw, 1.0)
    assert late.paced is not None and late.held and fwd.next_due(1.0) is not None
    fwd.attach(late, None, 1.01)
    assert late.paced is None and not late.held and fwd.next_due(1.01) is None and fwd.pace(5.0) == []


def huge_nack(first: int, span: int) -> list[int]:
    """What aiortc parses from 368 FCIs with BLP 0xFFFF over ``span`` packets."""
    return [first + (17 * i) % (span - 16) + d for i in range(368) for d in range(17)]


def attacked() -> tuple[Forwarder[str], Inbound[str], Outlet[str], int]:
    fwd: Forwarder[str] = Forwarder()
    inbound: Inbound[str] = Inbound(TrackKey("alice", "video"), VP8, KINDS)
    inbound.cache = PacketCache(VIDEO_CAPACITY)  # no age bound: NACKs for all 4 s of it are answerable
    outlet, rewriter = subscriber("attacker")
    fwd.attach(outlet, inbound, 0.0)
    fwd.ready(outlet, rewriter, 0.0)
    out = publish(fwd, inbound, range(0, 500), keyframe_at=0)
    first = RtpPacket.parse(out[0][1]).sequence_number
    return fwd, inbound, outlet, first


def test_one_huge_nack_is_deduplicated_capped_and_budgeted() -> None:
    fwd, _, outlet, first = attacked()
    lost = huge_nack(first, 400)
    assert len(lost) == 6256  # 6,256 retransmissions before
    now_out = fwd.on_nack(outlet, lost, 5.0)
    later = drive(fwd, 5.0, [], Inbound(TrackKey("x", "video"), VP8, KINDS))
    rtx = [p for _, p in now_out] + [p for _, _, p in later]
    originals = [unwrap_rtx(RtpPacket.parse(p), payload_type=97, ssrc=0).sequence_number for p in rtx]
    assert len(originals) == len(set(originals)) <= MAX_NACK_ENTRIES  # once each, capped
    budget = max(RTX_BURST_MIN, max(RTX_FLOOR, MEASURED) * RTX_BURST_SECONDS)
    assert sum(len(p) for p in rtx) <= budget + SIZE + 40
    # and what the budget allowed went through the pacer: a burst at once, the rest over time
    assert sum(len(p) for _, p in now_out) <= PACE_BURST + SIZE + 40
    assert all(at > 5.0 for at, _, _ in later)


def test_a_hundred_huge_nacks_in_five_seconds_cost_about_the_streams_rate() -> None:
    fwd, _, outlet, first = attacked()
    lost = huge_nack(first, 400)
    nack_bytes = 12 + 368 * 4
    rtx_bytes = 0
    for i in range(100):
        now = 5.0 + i * 0.05
        rtx_bytes += sum(len(p) for _, p in fwd.on_nack(outlet, lost, now))
        rtx_bytes += sum(len(p) for _, p in fwd.pace(now))
    rtx_bytes += sum(len(p) for _, _, p in drive(fwd, 10.0, [], Inbound(TrackKey("x", "video"), VP8, KINDS)))
    rate = max(RTX_FLOOR, MEASURED)
    budget = max(RTX_BURST_MIN, rate * RTX_BURST_SECONDS)
    assert rtx_bytes <= budget + rate * 5.0 + SIZE + 40  # ~7 MB per NACK before
    print(f"100 huge NACKs: {rtx_bytes} RTX bytes for {100 * nack_bytes} NACK bytes "
          f"({rtx_bytes / (100 * nack_bytes):.1f}x; {100 * 6256 * (SIZE + 26) / (100 * nack_bytes):.0f}x unbounded)")


def test_a_packet_is_not_resent_twice_within_the_resend_interval() -> None:
    fwd, _, outlet, first = attacked()
    assert len(fwd.on_nack(outlet, [first + 10, first + 11], 5.0)) == 2
    assert fwd.on_nack(outlet, [first + 10, first + 11], 5.0 + RESEND_INTERVAL / 2) == []
    assert len(fwd.on_nack(outlet, [first + 10, first + 12], 5.0 + RESEND_INTERVAL / 2)) == 1
    assert len(fwd.on_nack(outlet, [first + 10, first + 11], 5.0 + RESEND_INTERVAL * 1.5)) == 2


def test_honest_losses_are_all_repaired_and_leave_at_once() -> None:
    fwd, inbound, outlet, first = attacked()
    # 5% loss over a second, NACKed as a receiver does, one NACK per loss
    repaired = 0
    for i in range(0, 120, 20):
        out = fwd.on_nack(outlet, [first + 380 + i], 5.0 + i / 120)
        repaired += len(out)
    assert repaired == 6 and fwd.next_due(6.0) is None
    assert PACE_INTERVAL > 0 and outlet.paced is None


def test_a_backlog_of_retransmissions_never_holds_the_live_stream_back() -> None:
    fwd, inbound, outlet, first = attacked()
    fwd.on_nack(outlet, huge_nack(first, 400), 5.0)  # more RTX than the bucket lets out at once
    assert outlet.rtx_lane is not None and outlet.rtx_lane.backlogged
    assert outlet.paced is None and not outlet.held  # live media stays on the direct path
    live = fwd.on_rtp(inbound, video_packet(500, False), 0)
    media_pt, rtx_pt = outlet.rewriter.payload_type, outlet.rewriter.rtx_payload_type  # type: ignore[union-attr]
    assert [RtpPacket.parse(p).payload_type for _, p in live] == [media_pt]  # sent at once, not queued
    sent = drive(fwd, 5.0, [], inbound)  # the repairs still drain, paced
    assert sent and all(RtpPacket.parse(p).payload_type == rtx_pt for _, _, p in sent)
    assert outlet.paced is None and fwd.next_due(60.0) is None
