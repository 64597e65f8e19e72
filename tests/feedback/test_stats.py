"""Receive statistics over thousands of packets with seeded loss, reordering
and duplicates, against an independent count (RFC 3550 A.1, A.3, A.8)."""

from __future__ import annotations

import random

import pytest

from sfu.feedback.stats import ReceiveStatistics

RATE = 90000


def lossy_stream(seed: int, count: int, first_seq: int, loss: float, reorder: float, dup: float) -> list[tuple[int, int, int]]:
    """(extended seq, timestamp, arrival ms) in arrival order: 30 packets per
    10 frames a second, network delay 20-60 ms, reordering by up to 5."""
    rng = random.Random(seed)
    sent = []
    for i in range(count):
        ext = first_seq + i
        frame = i // 3
        send_ms = frame * 33 + (i % 3)
        sent.append((ext, (frame * 3000 + 12345) & 0xFFFFFFFF, send_ms + rng.randint(20, 60)))
    arrived = [p for p in sent[:1]] + [p for p in sent[1:] if rng.random() >= loss]
    for i in range(1, len(arrived) - 6):
        if rng.random() < reorder:
            j = i + rng.randint(1, 5)
            arrived[i], arrived[j] = arrived[j], arrived[i]
    out = []
    for p in arrived:
        out.append(p)
        if rng.random() < dup:
            out.append(p)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_loss_counts_and_fraction_lost_are_exact_over_thousands_of_packets(seed: int) -> None:
    packets = lossy_stream(seed, 6000, first_seq=62000, loss=0.07, reorder=0.05, dup=0.01)  # wraps at 65536
    stats = ReceiveStatistics(0x1234, RATE)
    base = packets[0][0]
    highest = base
    received = 0
    prior_expected = prior_received = 0
    reports = 0
    for i, (ext, ts, arrival) in enumerate(packets):
        assert stats.on_packet(ext & 0xFFFF, ts, arrival)
        received += 1
        highest = max(highest, ext)
        if i % 97 == 96:  # a report now and then, mid-stream
            block = stats.report(now=i / 100)
            assert block is not None
            expected = highest - base + 1
            assert block.highest_sequence == highest
            assert block.cumulative_lost == expected - received
            e, r = expected - prior_expected, received - prior_received
            prior_expected, prior_received = expected, received
            assert block.fraction_lost == (0 if e == 0 or e - r <= 0 else ((e - r) << 8) // e)
            reports += 1
    assert reports > 50
    unique = {ext for ext, _, _ in packets}
    # a sanity check on the reference itself: without early reordering the
    # loss is what the seeded channel dropped
    true_lost = (highest - base + 1) - len({e for e in unique if e >= base})
    assert stats.lost == true_lost - (len(packets) - len(unique)) - len({e for e in unique if e < base})
    assert 0.05 < true_lost / (highest - base + 1) < 0.09
    assert stats.extended_highest > 0xFFFF  # the 16-bit sequence number wrapped


def test_jitter_follows_a8_exactly() -> None:
    packets = lossy_stream(9, 5000, first_seq=100, loss=0.03, reorder=0.02, dup=0.0)
    stats = ReceiveStatistics(1, RATE)
    j_q4 = 0
    j_float = 0.0
    last_transit: int | None = None
    for ext, ts, arrival in packets:
        stats.on_packet(ext & 0xFFFF, ts, arrival)
        transit = arrival * RATE // 1000 - ts
        if last_transit is not None:
            d = abs(transit - last_transit)
            j_q4 += d - ((j_q4 + 8) >> 4)
            j_float += (d - j_float) / 16
        last_transit = transit
        assert stats.jitter == j_q4 >> 4
        assert abs(stats.jitter - j_float) <= 2.0  # the integer form truncates
    assert stats.jitter > 0


def test_jitter_of_a_steady_stream_is_zero_and_of_alternating_delay_is_that_delay() -> None:
    alternating = ReceiveStatistics(2, RATE)
    for i in range(2000):
        alternating.on_packet(i, i * 900, i * 10 + (10 if i % 2 else 0))  # +-10 ms = 900 units
    assert 880 <= alternating.jitter <= 900
    constant = ReceiveStatistics(3, RATE)
    for i in range(300):  # the timestamp wraps on the way: still no jitter
        constant.on_packet(i, (i * 900 + 0xFFFF0000) & 0xFFFFFFFF, 5000 + i * 10)
    assert constant.jitter == 0


def test_lsr_and_dlsr_come_from_the_last_sender_report() -> None:
    stats = ReceiveStatistics(7, 48000)
    assert stats.report(0.0) is None  # nothing received yet
    stats.on_packet(1, 0, 0)
    block = stats.report(1.0)
    assert block is not None and (block.lsr, block.dlsr) == (0, 0)
    stats.on_sender_report(0x0123456789ABCDEF, now=10.0)
    block = stats.report(10.5)
    assert block is not None and (block.lsr, block.dlsr) == (0x456789AB, 32768)


def test_a_jump_counts_only_once_confirmed_and_then_restarts() -> None:
    stats = ReceiveStatistics(1, RATE)
    for seq in range(1000, 1100):
        assert stats.on_packet(seq, seq * 10, seq)
    assert not stats.on_packet(40000, 0, 2000)  # one wild packet: not counted
    assert (stats.received, stats.expected) == (100, 100)
    assert stats.on_packet(1100, 11000, 2001)  # the stream goes on
    assert not stats.on_packet(50000, 0, 3000)
    assert stats.on_packet(50001, 10, 3001)  # two in a row: a restart
    assert (stats.received, stats.expected, stats.lost) == (1, 1, 0)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="clock rate"):
        ReceiveStatistics(1, 0)
    with pytest.raises(ValueError, match="SSRC"):
        ReceiveStatistics(1 << 32, 90000)
