"""Which subscriber section carries whose track: reuse, never grow needlessly."""

from __future__ import annotations

from sfu.routing.layout import SubscriberLayout, TrackKey


def keys(*people: str) -> list[TrackKey]:
    return [TrackKey(p, kind) for p in people for kind in ("audio", "video")]  # type: ignore[arg-type]


def test_sections_are_added_released_and_reused_kind_for_kind() -> None:
    layout = SubscriberLayout()
    change = layout.update(keys("a", "b"))
    assert [(s.index, s.kind, s.source) for s in change.added] == [
        (0, "audio", TrackKey("a", "audio")), (1, "video", TrackKey("a", "video")),
        (2, "audio", TrackKey("b", "audio")), (3, "video", TrackKey("b", "video")),
    ]
    assert not layout.update(keys("a", "b"))  # nothing changed: no offer needed

    change = layout.update(keys("b"))
    assert [s.index for s in change.released] == [0, 1] and not change.added

    change = layout.update(keys("b", "c"))
    assert not change.added and not change.released
    assert [(s.index, s.source) for s in change.assigned] == [(0, TrackKey("c", "audio")), (1, TrackKey("c", "video"))]
    assert len(layout.slots) == 4


def test_a_leave_and_a_join_in_one_update_reuse_at_once() -> None:
    layout = SubscriberLayout()
    layout.update(keys("a", "b"))
    change = layout.update(keys("b", "c"))
    assert not change.released and not change.added
    assert {s.index for s in change.assigned} == {0, 1}
    assert [s.source.participant_id for s in layout.active() if s.source] == ["c", "c", "b", "b"]


def test_many_comings_and_goings_never_exceed_the_peak() -> None:
    layout = SubscriberLayout()
    present: list[str] = []
    peak = 0
    for step in range(300):
        person = f"p{step}"
        present.append(person)
        if len(present) > 5:
            present.pop(step * 7 % len(present))
        peak = max(peak, len(present))
        layout.update(keys(*present))
        carried = sorted(s.source for s in layout.active() if s.source)
        assert carried == sorted(keys(*present))
        assert len(layout.slots) <= 2 * peak
    assert len(layout.slots) == 2 * peak
