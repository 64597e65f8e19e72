"""The load test's join-storm steps: p50 / p99 per step, in the order they happen."""

from __future__ import annotations

from benchmarks.loadtest import join_phases
from benchmarks.report import phases_lines


def test_steps_are_summarised_in_the_order_they_happen() -> None:
    phases = [{"offer_in": 900.0 + i, "publish_sent": 5.0 + i, "rtp_in_first": 2000.0 + 10 * i} for i in range(10)]
    phases[3].pop("rtp_in_first")  # one who never got media: the others' figures still count
    out = join_phases(phases)
    assert list(out) == ["publish_sent", "offer_in", "rtp_in_first"]
    assert out["publish_sent"]["p50"] == 10 and out["offer_in"]["count"] == 10
    assert out["rtp_in_first"]["count"] == 9 and out["rtp_in_first"]["p99"] == 2089
    line = phases_lines({"callsfu": [{"scenario": "meeting", "n": 32, "join_phases_ms": out}]})
    assert line == ["join steps, callsfu meeting N=32 (ms after welcome, p50/p99): publish_sent 10/14, offer_in 904/909, rtp_in_first 2050/2089"]


def test_no_steps_no_line() -> None:
    assert join_phases([]) == {} and phases_lines({"callsfu": [{"scenario": "fanout", "n": 4}]}) == []
