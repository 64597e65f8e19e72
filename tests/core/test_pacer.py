"""Token bucket and pacer, with time passed in."""

from __future__ import annotations

import pytest

from sfu.core.pacer import (
    CONNECTION_BURST,
    CONNECTION_RATE,
    MAX_LANE_PACKETS,
    MAX_PACED_BYTES,
    PACE_INTERVAL,
    Lane,
    Pacer,
    TokenBucket,
)


def test_bucket_starts_full_refills_at_its_rate_and_caps_at_its_burst() -> None:
    bucket = TokenBucket(rate=1000, burst=500, now=0.0)
    assert bucket.take(500, 0.0)
    assert not bucket.take(1, 0.0)
    assert bucket.delay(100, 0.0) == pytest.approx(0.1)
    assert not bucket.take(100, 0.09)
    assert bucket.take(100, 0.1)
    assert bucket.take(500, 100.0) and not bucket.take(1, 100.0)  # a long pause buys one burst only


def test_a_packet_bigger_than_the_burst_waits_for_a_full_bucket_not_forever() -> None:
    bucket = TokenBucket(rate=1000, burst=500, now=0.0)
    assert bucket.take(1200, 0.0)  # full: it goes, the balance goes negative
    assert not bucket.take(1, 0.5)  # 700 bytes of debt: still 200 owed at 0.5 s
    assert bucket.delay(500, 0.5) == pytest.approx(0.7)


def test_a_clock_going_backwards_refills_nothing() -> None:
    bucket = TokenBucket(rate=1000, burst=500, now=10.0)
    assert bucket.take(500, 10.0)
    assert not bucket.take(100, 5.0)
    assert bucket.take(100, 5.2)  # refills from the new origin


def test_configure_keeps_what_accrued_up_to_the_new_burst_and_checks_its_arguments() -> None:
    bucket = TokenBucket(rate=1000, burst=5000, now=0.0)
    bucket.configure(2000, 800, 1.0)
    assert bucket.tokens == 800
    with pytest.raises(ValueError, match="rate must be > 0"):
        bucket.configure(0, 800, 1.0)
    with pytest.raises(ValueError, match="burst must be > 0"):
        TokenBucket(1000, -1, 0.0)


def released_over_time(pacer: Pacer[str], start: float, end: float) -> list[tuple[float, str, bytes]]:
    """Drive the pacer the way the glue does: release at each due time."""
    out: list[tuple[float, str, bytes]] = []
    now = start
    while now <= end:
        for owner, packet in pacer.release(now)[0]:
            out.append((now, owner, packet))
        due = pacer.next_due(now)
        if due is None:
            break
        assert due >= now
        if due > now:
            assert due - now >= PACE_INTERVAL * 0.999  # batches, not one wake-up per packet
        now = due
    return out


def test_a_burst_leaves_at_the_bucket_rate_in_order_and_never_faster() -> None:
    rate, burst = 100_000.0, 10_000.0
    pacer: Pacer[str] = Pacer()
    lane: Lane[str] = Lane("sub", TokenBucket(rate, burst, 0.0))
    packets = [bytes([i % 256]) * 1000 for i in range(300)]  # 300 KB: three seconds at 100 KB/s
    sent_now = [p for p in packets if pacer.offer(lane, p, 0.0)]
    assert len(sent_now) == 10  # the burst goes at once...
    assert lane.backlogged and pacer.busy == 1
    timeline = released_over_time(pacer, 0.0, 10.0)
    assert [p for _, _, p in timeline] == packets[10:]  # ...the rest in order
    assert not lane.backlogged and pacer.busy == 0 and pacer.next_due(5.0) is None
    # at no point did more leave than the bucket allows: burst + rate * elapsed
    total = 10_000
    for at, _, packet in timeline:
        total += len(packet)
        assert total <= burst + rate * at + 1e-6
    assert timeline[-1][0] == pytest.approx((300_000 - burst) / rate, abs=0.02)


def test_live_packets_queue_behind_the_backlog_for_free_then_the_lane_drains() -> None:
    pacer: Pacer[str] = Pacer()
    lane: Lane[str] = Lane("sub", TokenBucket(10_000, 1000, 0.0))
    assert pacer.offer(lane, b"r" * 1000, 0.0)
    assert not pacer.offer(lane, b"R" * 1000, 0.0)  # waits 0.1 s
    pacer.follow(lane, b"live1")
    pacer.follow(lane, b"live2")
    assert pacer.release(0.05)[0] == []  # nothing overtakes the backlog
    out, drained = pacer.release(0.1)
    assert [p for _, p in out] == [b"R" * 1000, b"live1", b"live2"] and drained == [lane]
    assert not lane.backlogged


def test_cancel_forgets_a_backlog() -> None:
    pacer: Pacer[str] = Pacer()
    lane: Lane[str] = Lane("sub", TokenBucket(10_000, 1000, 0.0))
    for _ in range(5):
        pacer.offer(lane, bytes(1000), 0.0)
    pacer.cancel(lane)
    assert not lane.backlogged and pacer.busy == 0 and pacer.release(10.0) == ([], [])


def test_a_lane_is_bounded_in_paced_bytes_and_in_packets() -> None:
    pacer: Pacer[str] = Pacer()
    lane: Lane[str] = Lane("sub", TokenBucket(1000, 1000, 0.0))
    assert pacer.offer(lane, bytes(1000), 0.0)
    queued = 0
    while lane.dropped == 0:
        assert not pacer.offer(lane, bytes(1000), 0.0)
        queued += 1 if lane.dropped == 0 else 0
    assert queued == min(MAX_PACED_BYTES // 1000, MAX_LANE_PACKETS)
    assert lane.paced_bytes == queued * 1000 <= MAX_PACED_BYTES
    big: Lane[str] = Lane("big", TokenBucket(1000, 1000, 0.0))
    pacer.offer(big, bytes(1000), 0.0)
    while big.dropped == 0:
        pacer.offer(big, bytes(60_000), 0.0)
    assert big.paced_bytes <= MAX_PACED_BYTES  # bytes bound before the packet bound
    # live packets past the packet bound shed the paced ones still queued first,
    # then (live ones only) the oldest: the lane never holds more than the bound
    live = [i.to_bytes(4, "big") for i in range(MAX_LANE_PACKETS + 10)]
    for packet in live:
        pacer.follow(lane, packet)
        assert len(lane.queue) <= MAX_LANE_PACKETS
    assert [p for p, _ in lane.queue] == live[-MAX_LANE_PACKETS:] and lane.paced_bytes == 0
    assert lane.dropped == 1 + queued + 10
    out, drained = pacer.release(0.0)
    assert [p for owner, p in out if owner == "sub"] == live[-MAX_LANE_PACKETS:] and lane in drained


def test_lanes_of_one_connection_share_its_burst_and_rate() -> None:
    pacer: Pacer[str] = Pacer()
    own_rate, own_burst = 2_000_000.0, 16_384.0  # each lane alone would send 16 KiB at once
    one = [Lane(f"a{i}", TokenBucket(own_rate, own_burst, 0.0), group="connection A") for i in range(7)]
    other = Lane("b", TokenBucket(own_rate, own_burst, 0.0), group="connection B")
    packets = {lane.owner: [bytes(1000)] * 100 for lane in [*one, other]}
    at_once = {lane.owner: sum(1000 for p in packets[lane.owner] if pacer.offer(lane, p, 0.0)) for lane in [*one, other]}
    assert sum(at_once[lane.owner] for lane in one) <= CONNECTION_BURST  # seven replays: one burst
    assert at_once["b"] == 16_000  # another connection is not held back by A
    timeline = released_over_time(pacer, 0.0, 10.0)
    sent_a = sum(at_once[lane.owner] for lane in one)
    for at, owner, packet in timeline:
        if owner.startswith("a"):
            sent_a += len(packet)
            assert sent_a <= CONNECTION_BURST + CONNECTION_RATE * at + 1e-6
    assert sent_a == 7 * 100 * 1000 and pacer.busy == 0
    assert pacer.connections <= 2  # kept only while needed...
    for i in range(200):  # ...and idle ones are forgotten
        lane = Lane("x", TokenBucket(own_rate, own_burst, 20.0 + i), group=f"connection {i}")
        assert pacer.offer(lane, bytes(1000), 20.0 + i)
    assert pacer.connections <= 16 + 2
