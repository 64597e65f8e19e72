"""sfu/observe.py's pure parts: histograms, receiver reports, merging snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from sfu.observe import Histogram, Observer, Reception, merge, record_report


def test_histogram_buckets_are_upper_bounds() -> None:
    h = Histogram([0.1, 1.0])
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(v)
    assert h.as_dict() == {"bounds": [0.1, 1.0], "counts": [2, 1, 1], "sum": pytest.approx(3.65)}
    with pytest.raises(ValueError):
        Histogram([])


@dataclass
class Block:
    ssrc: int = 1
    fraction_lost: int = 64
    packets_lost: int = 7
    jitter: int = 900
    lsr: int = 0
    dlsr: int = 0


class Holder:
    report: Any = None


def test_a_receiver_report_gives_loss_jitter_and_the_round_trip() -> None:
    ntp_now = (0x12345678 << 32) | 0x80000000  # middle 32 bits: 0x56788000
    middle = 0x56788000
    outlet = Holder()
    record_report(outlet, Block(lsr=middle - 65536 // 10 - 65536, dlsr=65536), 90000, ntp_now)  # type: ignore[arg-type]
    r = outlet.report
    assert isinstance(r, Reception)
    assert r.fraction_lost == 0.25 and r.packets_lost == 7 and r.jitter == pytest.approx(0.01)
    assert r.rtt == pytest.approx(0.1, abs=1e-4)
    record_report(outlet, Block(lsr=0), 90000, ntp_now)  # type: ignore[arg-type]
    assert outlet.report.rtt is None  # no sender report echoed yet
    record_report(outlet, Block(lsr=middle + 65536), 90000, ntp_now)  # type: ignore[arg-type]
    assert outlet.report.rtt is None  # from the future: ignored


def test_snapshots_of_several_processes_merge() -> None:
    a = Observer(0).snapshot([], 0.0)
    b = Observer(1).snapshot([], 0.0)
    a["totals"]["forwarded_packets"]["video"] = 5
    b["totals"]["forwarded_packets"]["video"] = 7
    b["totals"]["keyframe_requests"] = a["totals"]["keyframe_requests"] + 2
    merged = merge([a, b])
    assert merged["totals"]["forwarded_packets"]["video"] == 12
    assert merged["totals"]["keyframe_requests"] == a["totals"]["keyframe_requests"] * 2 + 2
    assert [w["id"] for w in merged["workers"]] == [0, 1]
    assert merged["joins"]["counts"] == [x + y for x, y in zip(a["joins"]["counts"], b["joins"]["counts"])]
    assert merge([])["workers"] == []
