"""When a subscribe offer waits for tracks on their way (join storms); time passed in."""

from __future__ import annotations

from sfu.routing.arrivals import CONNECT_GRACE, JOIN_GRACE, OFFER_HOLD, Arrivals
from sfu.routing.layout import TrackKey


def tracks(pid: str) -> list[TrackKey]:
    return [TrackKey(pid, "audio"), TrackKey(pid, "video")]


def test_nothing_on_its_way_offers_at_once() -> None:
    arrivals = Arrivals()
    assert arrivals.pending_until(10.0, exclude="a") is None
    assert arrivals.offer_at(10.0, 10.0, exclude="a") is None


def test_an_answered_publish_is_waited_for_until_all_its_tracks_arrive() -> None:
    arrivals = Arrivals()
    arrivals.answered("b", tracks("b"), now=10.0)
    assert arrivals.offer_at(10.0, 10.1, exclude="a") == 10.0 + OFFER_HOLD
    arrivals.arrived(TrackKey("b", "audio"))
    assert arrivals.offer_at(10.0, 10.2, exclude="a") is not None  # its video is still on its way
    arrivals.arrived(TrackKey("b", "video"))
    assert arrivals.offer_at(10.0, 10.3, exclude="a") is None


def test_a_subscriber_never_waits_for_its_own_tracks() -> None:
    arrivals = Arrivals()
    arrivals.joined("a", 10.0)
    arrivals.answered("a", tracks("a"), now=10.1)
    assert arrivals.offer_at(10.1, 10.2, exclude="a") is None
    assert arrivals.offer_at(10.1, 10.2, exclude="b") is not None


def test_a_newcomer_that_has_not_published_yet_is_waited_for_its_join_grace_only() -> None:
    arrivals = Arrivals()
    arrivals.joined("b", 10.0)
    assert arrivals.pending_until(10.5, exclude="a") == 10.0 + JOIN_GRACE
    assert arrivals.pending_until(10.0 + JOIN_GRACE, exclude="a") is None  # a listener: it never publishes


def test_a_publish_that_never_connects_stops_counting_after_its_grace() -> None:
    arrivals = Arrivals(connect_grace=CONNECT_GRACE)
    arrivals.answered("b", tracks("b"), now=10.0)
    assert arrivals.pending_until(10.0 + CONNECT_GRACE - 0.01, exclude="a") == 10.0 + CONNECT_GRACE
    assert arrivals.pending_until(10.0 + CONNECT_GRACE, exclude="a") is None


def test_the_wait_is_bounded_from_the_change_that_prompted_the_offer() -> None:
    arrivals = Arrivals()
    arrivals.answered("b", tracks("b"), now=10.0)
    changed = 10.0
    assert arrivals.offer_at(changed, changed + OFFER_HOLD / 2, exclude="a") == changed + OFFER_HOLD
    assert arrivals.offer_at(changed, changed + OFFER_HOLD, exclude="a") is None  # still pending: offer anyway


def test_the_next_look_is_when_the_pending_stop_counting_if_that_is_sooner() -> None:
    arrivals = Arrivals(join_grace=0.3)
    arrivals.joined("b", 10.0)
    assert arrivals.offer_at(10.0, 10.1, exclude="a", hold=1.0) == 10.3


def test_a_storm_is_pending_until_its_last_publisher_arrives() -> None:
    arrivals = Arrivals()
    for i, pid in enumerate("bcdef"):
        arrivals.joined(pid, 10.0 + 0.05 * i)
    for pid in "bcdef":
        arrivals.answered(pid, tracks(pid), now=10.3)
    for pid in "bcde":
        for key in tracks(pid):
            arrivals.arrived(key)
    assert arrivals.offer_at(10.2, 10.5, exclude="a") is not None  # f's tracks are still on their way
    for key in tracks("f"):
        arrivals.arrived(key)
    assert arrivals.offer_at(10.2, 10.6, exclude="a") is None


def test_leaving_and_an_answer_with_nothing_accepted_end_the_wait() -> None:
    arrivals = Arrivals()
    arrivals.answered("b", tracks("b"), now=10.0)
    arrivals.left("b")
    assert arrivals.pending_until(10.1, exclude="a") is None
    arrivals.joined("c", 10.0)
    arrivals.answered("c", [], now=10.1)  # a listener's publish, or an audio call's refused video only
    assert arrivals.pending_until(10.2, exclude="a") is None


def test_a_track_of_someone_not_expected_changes_nothing() -> None:
    arrivals = Arrivals()
    arrivals.arrived(TrackKey("z", "video"))  # a WHIP publisher, or a re-published section
    assert arrivals.pending_until(10.0, exclude="a") is None
