from __future__ import annotations

from sfu.core.throttle import KeyframeThrottle


def test_first_request_passes_then_one_per_interval() -> None:
    t = KeyframeThrottle()
    assert t.allow(100.0)
    assert not t.allow(100.5)
    assert not t.allow(100.999)
    assert t.allow(101.0)
    assert not t.allow(101.2)


def test_refused_request_becomes_due_once() -> None:
    t = KeyframeThrottle(min_interval=2.0)
    assert not t.due(0.0)  # nothing pending
    assert t.allow(10.0)
    assert not t.pending
    assert not t.allow(10.5)
    assert not t.allow(11.0)  # several refusals collapse into one pending request
    assert t.pending
    assert not t.due(11.9)
    assert t.due(12.0)
    assert not t.pending
    assert not t.due(12.1)  # reported once
    assert not t.allow(13.0)  # the due request restarted the interval
    assert t.due(14.0)


def test_allow_clears_pending() -> None:
    t = KeyframeThrottle(0.5)
    t.allow(0.0)
    t.allow(0.1)
    assert t.pending
    assert t.allow(0.6)
    assert not t.pending and not t.due(5.0)


def test_clock_going_backwards_does_not_block() -> None:
    t = KeyframeThrottle()
    assert t.allow(50.0)
    assert t.allow(10.0)


def test_zero_interval_never_throttles() -> None:
    t = KeyframeThrottle(0.0)
    assert all(t.allow(1.0) for _ in range(3))


def test_a_request_is_on_its_way_until_a_keyframe_or_the_wait_is_over() -> None:
    t = KeyframeThrottle(min_interval=1.0)
    assert not t.on_its_way(0.0, 0.5)  # nothing asked yet
    assert t.allow(10.0)
    assert t.on_its_way(10.2, 0.5)
    assert not t.on_its_way(10.6, 0.5)  # asked too long ago: it may never come
    t.answered()
    assert not t.on_its_way(10.2, 0.5)  # it came
    assert not t.allow(10.5) and t.due(11.1)  # a refused request, sent later, is on its way again
    assert t.on_its_way(11.2, 0.5)
