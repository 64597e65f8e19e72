"""The REMB estimate under loss: grows, holds, cuts (loss-based, as libwebrtc)."""

from __future__ import annotations

import pytest

from sfu.feedback.estimator import LossBasedEstimator


def run(est: LossBasedEstimator, seconds: int, loss: float, send_bps: int, pps: int = 100) -> list[int]:
    out = []
    for _ in range(seconds):
        est.on_packet(send_bps // 8)
        out.append(est.update(est_time(est) + 1.0, pps, round(pps * loss)))
    return out


def est_time(est: LossBasedEstimator) -> float:
    return est._last if est._last is not None else 0.0


def start(**kw: int) -> LossBasedEstimator:
    est = LossBasedEstimator(**kw)
    est.update(0.0, 0, 0)
    return est


def test_grows_about_8_percent_a_second_without_loss_up_to_the_receive_rate_headroom() -> None:
    est = start(start_bitrate=300_000)
    rates = run(est, 5, 0.0, send_bps=1_000_000)
    assert rates[0] == int(300_000 * 1.08 + 1000)
    assert all(b > a for a, b in zip(rates, rates[1:]))
    rates = run(est, 60, 0.01, send_bps=1_000_000)  # 1 % loss still grows
    assert rates[-1] == 1_510_000  # 1.5 x receive rate + 10 kbit/s, not further


def test_an_app_limited_publisher_keeps_the_start_value() -> None:
    est = start(start_bitrate=1_000_000)
    assert run(est, 30, 0.0, send_bps=50_000)[-1] == 1_000_000


def test_holds_between_2_and_10_percent_loss() -> None:
    est = start(start_bitrate=800_000)
    assert set(run(est, 10, 0.05, send_bps=800_000)) == {800_000}
    assert set(run(est, 10, 0.10, send_bps=800_000)) == {800_000}


def test_cuts_under_heavy_loss_from_what_arrives_down_to_the_floor() -> None:
    est = start(start_bitrate=2_000_000, min_bitrate=50_000)
    rates = run(est, 1, 0.2, send_bps=1_000_000)
    assert rates == [900_000]  # min(2 Mbit/s, 1 Mbit/s arriving) x (1 - 0.2/2)
    rates = run(est, 40, 0.5, send_bps=100_000)
    assert rates[0] == 75_000 and rates[-1] == 50_000


def test_too_few_packets_carry_no_decision() -> None:
    est = start(start_bitrate=500_000)
    assert est.update(1.0, 10, 10) == 500_000  # 100 % of 10 packets: wait for more
    est.on_packet(10_000)
    # now 10 lost of 20 (50 %), and 80 kbit/s arrived: cut from there
    assert est.update(2.0, 10, 0) == int(80_000 * (1 - 0.5 / 2))


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="min_bitrate"):
        LossBasedEstimator(start_bitrate=10, min_bitrate=100)
