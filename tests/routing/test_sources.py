"""The publish message's ``sources`` (mid -> microphone | camera | screen):
parsed strictly, then checked against the offer's sections."""

from __future__ import annotations

import json

import pytest

from sfu.routing.layout import TrackKey
from sfu.signaling.messages import Publish, SignalingError, parse_client_message
from sfu.signaling.sources import resolve_sources

SDP = "v=0\r\n"


def publish(sources: object) -> str:
    return json.dumps({"type": "publish", "sdp": SDP, "sources": sources})


def test_sources_are_optional_and_parsed() -> None:
    assert parse_client_message(json.dumps({"type": "publish", "sdp": SDP})) == Publish(SDP, None)
    assert parse_client_message(publish(None)) == Publish(SDP, None)
    got = parse_client_message(publish({"0": "microphone", "1": "camera", "2": "screen"}))
    assert isinstance(got, Publish) and got.sources == {"0": "microphone", "1": "camera", "2": "screen"}


@pytest.mark.parametrize(
    ("sources", "needle"),
    [
        (["screen"], "'sources' must be an object"),
        ("screen", "'sources' must be an object"),
        ({"1": "window"}, "the source 'window'; expected microphone, camera or screen"),
        ({"1": 3}, "the source 3; expected"),
        ({"1": "screen", "2": "screen"}, "names the source 'screen' twice"),
        ({"": "camera"}, "A mid in 'sources' must be 1 to 32 characters"),
        ({"x" * 33: "camera"}, "A mid in 'sources' must be 1 to 32 characters"),
        ({str(i): "camera" for i in range(4)}, "names 4 sections"),
    ],
)
def test_bad_sources_get_a_precise_error(sources: object, needle: str) -> None:
    with pytest.raises(SignalingError) as err:
        parse_client_message(publish(sources))
    assert err.value.code == "bad_request" and needle in err.value.message, err.value.message


OFFER = [("audio", "0"), ("video", "1"), ("video", "2")]


def test_defaults_are_todays_and_a_screen_is_named() -> None:
    assert resolve_sources(None, OFFER[:2], {}) == {"0": "microphone", "1": "camera"}
    assert resolve_sources({"2": "screen"}, OFFER, {}) == {"0": "microphone", "1": "camera", "2": "screen"}
    # a re-offer keeps the earlier sections' sources without repeating them
    assert resolve_sources(None, OFFER, {"0": "microphone", "1": "camera", "2": "screen"})["2"] == "screen"


@pytest.mark.parametrize(
    ("sources", "known", "needle"),
    [
        ({"7": "screen"}, {}, "names mid '7', which is not a section of the offer"),
        ({"0": "screen"}, {}, "makes the audio section '0' the screen; a screen is video"),
        ({"1": "microphone"}, {}, "makes the video section '1' the microphone; a microphone is audio"),
        ({"1": "screen"}, {"1": "camera"}, "Section '1' is already the camera; a section's source cannot change"),
    ],
)
def test_sources_that_contradict_the_offer_are_refused(sources: dict[str, str], known: dict[str, str], needle: str) -> None:
    with pytest.raises(SignalingError) as err:
        resolve_sources(sources, OFFER, known)
    assert err.value.code == "bad_request" and needle in err.value.message, err.value.message


def test_track_keys_of_a_screen_and_a_camera_differ() -> None:
    camera, screen = TrackKey("p", "video"), TrackKey("p", "video", "screen")
    assert camera != screen and camera == TrackKey("p", "video", "")
    assert (camera.source_name, screen.source_name, TrackKey("p", "audio").source_name) == ("camera", "screen", "microphone")
