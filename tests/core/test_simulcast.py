"""Simulcast layer choice (sfu.core.simulcast): pure."""

from __future__ import annotations

import pytest

from sfu.core.simulcast import Bandwidth, LayerInfo, allocate, by_view, validate_rid

Q = LayerInfo((160, 90), 100_000.0, True)
H = LayerInfo((320, 180), 300_000.0, True)
F = LayerInfo((640, 360), 900_000.0, True)


@pytest.mark.parametrize("rid", ["q", "h", "f", "0", "layer_1-a", "x" * 16])
def test_good_rids(rid: str) -> None:
    assert validate_rid(rid) == rid


@pytest.mark.parametrize(
    ("rid", "message"),
    [("", "1 to 16"), ("x" * 17, "1 to 16"), ("a b", "letters"), ("é", "letters"), ("a;b", "letters"), ("~a", "letters")],
)
def test_bad_rids(rid: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_rid(rid)


def test_the_tile_size_picks_the_smallest_layer_that_covers_it() -> None:
    layers = [Q, H, F]
    assert by_view(layers, None)[0] == 2
    assert by_view(layers, (160, 90))[0] == 0
    assert by_view(layers, (170, 96))[0] == 0  # within the 10 % slack
    assert by_view(layers, (200, 120))[0] == 1
    assert by_view(layers, (640, 360))[0] == 2
    assert by_view(layers, (1920, 1080))[0] == 2  # larger than any: the largest
    assert by_view(layers, (200, 120)) == [1, 0]  # and what it may step down to


def test_inactive_layers_are_not_chosen_and_unknown_sizes_rank_by_order() -> None:
    off = LayerInfo((640, 360), None, False)
    assert by_view([Q, H, off], None)[0] == 1
    assert by_view([LayerInfo(None, None, False)] * 3, None) == []
    unknown = [LayerInfo(None, None, True)] * 3
    assert by_view(unknown, None)[0] == 2 and by_view(unknown, (10, 10))[0] == 2
    # sizes measured out of order (a publisher listing its largest first)
    assert by_view([F, Q, H], (100, 60))[0] == 1
    assert by_view([F, Q, H], None)[0] == 0


def test_the_budget_steps_the_most_expensive_tiles_down() -> None:
    tiles = [([Q, H, F], (640, 360)), ([Q, H, F], (160, 90)), ([Q, H, F], None)]
    assert allocate(tiles, None) == [2, 0, 2]
    assert allocate(tiles, 10_000_000) == [2, 0, 2]
    assert allocate(tiles, 1_300_000) == [2, 0, 1]  # 900 + 100 + 300
    assert allocate(tiles, 500_000) == [1, 0, 0]
    assert allocate(tiles, 1) == [0, 0, 0]  # never below the smallest layer
    assert allocate([([LayerInfo(None, None, False)], None)], 1) == [None]


def test_bandwidth_limits_only_when_congested_then_holds() -> None:
    bw = Bandwidth()
    assert bw.budget(1_000_000, 0.0) is None  # no REMB yet
    bw.on_remb(1_500_000, 0.0)
    assert bw.budget(1_000_000, 0.5) is None  # room to spare: the view decides
    bw.on_remb(500_000, 1.0)
    assert bw.budget(1_000_000, 1.0) == 500_000  # fallen from its peak, below what is sent: step down
    bw.on_remb(450_000, 2.0)
    assert bw.budget(400_000, 2.0) == 450_000  # held: no stepping up yet
    bw.on_remb(450_000, 8.0)
    assert bw.budget(400_000, 8.5) == 450_000
    assert bw.budget(400_000, 9.5) is None  # the hold is over
    assert bw.budget(400_000, 20.0) is None  # and a stale REMB counts for nothing


def test_a_rising_remb_is_a_ramp_up_not_congestion() -> None:
    bw = Bandwidth()
    for t in range(20):  # what Chromium sends while it decodes 300 kbit/s without loss
        bw.on_remb(10_000 + 1_000 * t, float(t))
        assert bw.budget(300_000, float(t)) is None
    bw.on_remb(12_000, 20.0)  # then it falls: that is congestion
    assert bw.budget(300_000, 20.0) == 12_000
