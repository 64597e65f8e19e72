"""NACK bounds (issue 9), with time passed in."""

from __future__ import annotations

import pytest

from sfu.core.nack import MAX_NACK_ENTRIES, RESEND_INTERVAL, RetransmitGuard, distinct_lost


def test_a_nack_naming_the_same_packets_368_times_is_answered_once_each() -> None:
    # 368 FCIs, BLP 0xFFFF, all over the same 40 packets: 6,256 entries
    lost = [(1000 + (17 * i) % 24 + d) for i in range(368) for d in range(17)]
    assert len(lost) == 6256
    assert distinct_lost(lost) == list(dict.fromkeys(lost))
    assert len(distinct_lost(lost)) == 40


def test_nack_entries_are_capped_per_rtcp_packet_and_wrapped_to_16_bits() -> None:
    lost = list(range(65000, 65000 + 2000))  # aiortc does not wrap BLP-expanded numbers
    out = distinct_lost(lost)
    assert len(out) == MAX_NACK_ENTRIES == 256
    assert out == [s & 0xFFFF for s in lost[:256]]
    assert distinct_lost([65536, 0, 1]) == [0, 1]
    assert distinct_lost(lost, limit=0) == []
    with pytest.raises(ValueError, match="limit must be >= 0"):
        distinct_lost(lost, limit=-1)


def test_a_packet_just_retransmitted_is_not_sent_again_at_once() -> None:
    guard = RetransmitGuard(512, rate=1e9, burst=1e9, now=0.0)
    assert guard.admit(7, 1000, 0.0)
    assert not guard.admit(7, 1000, 0.0)
    assert not guard.admit(7, 1000, RESEND_INTERVAL * 0.9)
    assert guard.admit(8, 1000, 0.01)  # another packet is another matter
    assert guard.admit(7, 1000, RESEND_INTERVAL * 1.1)  # a round trip later: the receiver may really need it
    assert guard.admit(7 + 512, 1000, RESEND_INTERVAL * 1.2)  # same slot, another packet
    guard.forget()
    assert guard.admit(8, 1000, 0.02)  # a new source: old memory means nothing


def test_the_rtx_budget_bounds_bytes_over_time_whatever_is_asked() -> None:
    rate, burst = 50_000.0, 20_000.0
    guard = RetransmitGuard(512, rate, burst, 0.0)
    sent = 0
    now = 0.0
    seq = 0
    while now < 10.0:  # someone NACKing 1,000 new packets every 10 ms for 10 s
        for _ in range(1000):
            seq = (seq + 1) & 0xFFFF
            if guard.admit(seq, 1200, now):
                sent += 1200
        assert sent <= burst + rate * now + 1200
        now += 0.01
    assert sent >= rate * 9.9  # and the budget is really available
    assert guard.refused > 0
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        RetransmitGuard(0, rate, burst, 0.0)
