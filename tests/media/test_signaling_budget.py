"""The per-session signaling budget (pure: time is passed in)."""

from __future__ import annotations

import pytest

from sfu.signaling.budget import MESSAGE_BURST, UNIT_BYTES, MessageBudget, Verdict


def test_a_burst_then_the_rate() -> None:
    budget = MessageBudget(rate=10, burst=5)
    assert [budget.take(10, 0.0) for _ in range(5)] == [Verdict.OK] * 5
    assert budget.take(10, 0.0) is Verdict.WARN
    assert budget.take(10, 0.0) is Verdict.IGNORE
    assert budget.take(10, 0.1) is Verdict.OK  # one unit back after 0.1 s at 10/s
    assert budget.take(10, 0.1) is Verdict.WARN  # a new episode is announced again


def test_big_frames_cost_more() -> None:
    budget = MessageBudget(rate=10, burst=5)
    assert budget.take(4 * UNIT_BYTES, 0.0) is Verdict.OK  # 5 units
    assert budget.take(0, 0.0) is Verdict.WARN


def test_a_client_that_keeps_going_is_dropped() -> None:
    budget = MessageBudget()
    verdicts = [budget.take(100, 0.0) for _ in range(int(MESSAGE_BURST) * 3)]
    assert verdicts.count(Verdict.WARN) == 1
    assert verdicts[-1] is Verdict.DROP
    assert verdicts.index(Verdict.DROP) == int(MESSAGE_BURST) * 2  # the burst, then MESSAGE_BURST ignored


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        MessageBudget(rate=0)
