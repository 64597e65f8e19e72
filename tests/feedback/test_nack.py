"""NACK generation: what is requested, how often, and when it is given up."""

from __future__ import annotations

import random

import pytest

from sfu.feedback.nack import NackGenerator


def test_a_gap_is_requested_retried_spaced_in_time_then_given_up() -> None:
    nack = NackGenerator(max_retries=3, retry_interval=0.1, reorder_delay=0.01, max_age=5.0)
    nack.on_packet(10, 0.0)
    nack.on_packet(13, 0.0)  # 11 and 12 missing
    assert nack.due(0.005) == []  # may still arrive reordered
    assert nack.due(0.02) == [11, 12]
    assert nack.due(0.05) == []  # not again before the retry interval
    nack.on_packet(12, 0.06)  # 12 arrives late
    times = [0.13, 0.24, 0.35, 0.46]
    assert [nack.due(t) for t in times] == [[11], [11], [], []]  # 3 requests in all, then given up
    assert (nack.requested, nack.recovered, nack.gave_up) == (4, 1, 1)
    assert not nack.missing


def test_too_old_entries_are_given_up_whatever_their_retries() -> None:
    nack = NackGenerator(max_retries=100, retry_interval=0.1, max_age=0.5)
    nack.on_packet(0, 0.0)
    nack.on_packet(2, 0.0)
    sent = sum(len(nack.due(t / 100)) for t in range(0, 200))
    assert sent == 5  # at 0.01, 0.11, ..., 0.41; 1 is over 0.5 s old after that
    assert nack.gave_up == 1 and not nack.missing


def test_a_retransmission_stops_the_requests() -> None:
    nack = NackGenerator()
    nack.on_packet(65534, 0.0)
    nack.on_packet(1, 0.0)  # 65535 and 0 missing, across the wrap
    assert nack.due(0.02) == [65535, 0]
    assert nack.on_recovered(0)
    assert not nack.on_recovered(0)  # a duplicate retransmission
    assert nack.due(0.2) == [65535]


def test_state_is_bounded_and_a_restart_is_not_loss() -> None:
    nack = NackGenerator(max_missing=100, max_gap=60)
    nack.on_packet(0, 0.0)
    nack.on_packet(1000, 0.0)  # a gap of 999: given up whole
    assert not nack.missing and nack.gave_up == 999
    for start in (1000, 1061, 1122):
        nack.on_packet(start + 61, 0.0)  # gaps of 60: requested, the oldest beyond 100 given up
    assert len(nack.missing) == 100 and nack.gave_up == 999 + 80
    assert nack.due(0.02, limit=64) == [s & 0xFFFF for s in sorted(nack.missing)][:64]
    nack.on_packet(30000, 0.1)  # a jump beyond MAX_DROPOUT: a new start, not 29000 losses
    assert not nack.missing and nack.gave_up == 999 + 180


def test_seeded_loss_every_missing_packet_is_asked_for_and_repaired_ones_no_more() -> None:
    rng = random.Random(5)
    nack = NackGenerator(max_retries=4, retry_interval=0.05, max_age=2.0)
    lost: set[int] = set()
    asked: dict[int, int] = {}
    now = 0.0
    for seq in range(5000):
        now += 0.002
        if seq and rng.random() < 0.05:
            lost.add(seq & 0xFFFF)
        else:
            nack.on_packet(seq & 0xFFFF, now)
        if seq % 10 == 0:
            for s in nack.due(now):
                asked[s] = asked.get(s, 0) + 1
                if rng.random() < 0.5:  # half the retransmissions are lost too
                    nack.on_recovered(s)
    for _ in range(100):
        now += 0.05
        for s in nack.due(now):
            asked[s] = asked.get(s, 0) + 1
    assert set(asked) == lost  # everything lost was asked for, nothing else
    assert max(asked.values()) == 4  # and never more than the retry limit
    assert nack.recovered + nack.gave_up == len(lost) and not nack.missing


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_missing"):
        NackGenerator(max_missing=0)
    with pytest.raises(ValueError, match="max_gap"):
        NackGenerator(max_gap=0)
    with pytest.raises(ValueError, match="retry_interval"):
        NackGenerator(retry_interval=0)
    with pytest.raises(ValueError, match="16-bit"):
        NackGenerator().on_packet(70000, 0.0)
