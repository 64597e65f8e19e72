"""RFC 3550-style sequence plausibility."""

from __future__ import annotations

from sfu.core.sequence import MAX_DROPOUT, MAX_MISORDER, SequenceGuard


def test_in_order_loss_reordering_and_wrap_are_accepted() -> None:
    guard = SequenceGuard()
    seqs = [65530, 65531, 65533, 65532, 65535, 0, 1, 5, 3, 2000, 1990]
    assert all(guard.accept(s) for s in seqs)
    assert guard.highest == 2000


def test_a_lone_wild_packet_is_dropped_and_the_stream_goes_on() -> None:
    guard = SequenceGuard()
    assert guard.accept(1000)
    assert not guard.accept(1000 + MAX_DROPOUT + 7)  # far ahead
    assert not guard.accept(1000 - MAX_MISORDER - 1)  # far behind
    assert guard.accept(1001) and guard.highest == 1001


def test_a_real_jump_is_taken_after_two_packets_in_a_row() -> None:
    guard = SequenceGuard()
    assert guard.accept(100)
    assert not guard.accept(40000)
    assert guard.accept(40001)
    assert guard.highest == 40001
    assert guard.accept(40002) and not guard.accept(100)
