"""The bigcall scenario's pure parts (benchmarks/bigcall.py): who shows whom, the view sent, the switch time."""

from __future__ import annotations

from benchmarks.bigcall import LARGE, SMALL, SPEAKERS, TILES, first_named_after, summary_ms, view_message, view_names


def test_each_view_shows_nine_others_speakers_first() -> None:
    names = [f"p-{i}" for i in range(32)]
    for i, me in enumerate(names):
        shown = view_names(i, names)
        assert len(shown) == len(set(shown)) == TILES and me not in shown
        assert [n for n in shown if n in names[:SPEAKERS]] == [n for n in names[:SPEAKERS] if n != me]
        assert shown[: SPEAKERS - (i < SPEAKERS)] == [n for n in names[:SPEAKERS] if n != me]
    assert view_names(1, names[:4]) == ["p-0", "p-2", "p-3"]  # fewer people than tiles: everyone else


def test_the_view_message_and_the_switch_time() -> None:
    msg = view_message(["a", "b", "c"], {"a": "id-a", "c": "id-c"})  # b not joined yet: left out
    assert msg == {"type": "view", "videos": [
        {"participant_id": "id-a", "width": LARGE[0], "height": LARGE[1]},
        {"participant_id": "id-c", "width": SMALL[0], "height": SMALL[1]},
    ]}  # fmt: skip
    log = [(1.0, ["x"]), (2.0, ["y", "x"]), (2.5, ["x", "y"]), (3.0, ["x"])]
    assert first_named_after(log, 1.5, "x") == 2.5
    assert first_named_after(log, 1.5, "z") is None
    assert summary_ms([0.1, 0.2]) == {"p50": 150.0, "p99": 199.0, "max": 200.0, "count": 2}
    assert summary_ms([])["count"] == 0
