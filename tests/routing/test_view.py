"""View-driven video forwarding (sans IO) and the strict `view` message."""

from __future__ import annotations

import json

import pytest
from aiortc.rtp import RtpPacket

from sfu.routing.forwarder import Forwarder, Inbound
from sfu.routing.layout import TrackKey
from sfu.routing.view import Tile, Views
from sfu.signaling.messages import SignalingError, View, parse_client_message
from sfu.signaling.view_message import MAX_SIZE, MAX_TILES
from tests.routing.test_forwarder import KINDS, VP8, subscriber, vp8_packet


def test_a_hidden_video_stops_and_starts_again_from_the_last_keyframe() -> None:
    fwd: Forwarder[str] = Forwarder()
    inbound: Inbound[str] = Inbound(TrackKey("alice", "video"), VP8, KINDS)
    outlet, rewriter = subscriber("sub0")
    other, other_rewriter = subscriber("sub1")
    for o, r in ((outlet, rewriter), (other, other_rewriter)):
        fwd.attach(o, inbound, 0.0)
        fwd.ready(o, r, 0.0)
    seq, ts, sent = 100, 0, []
    for i in range(30):
        seq, ts = seq + 1, ts + 3000
        sent += [d for s, d in fwd.on_rtp(inbound, vp8_packet(seq, ts, keyframe=i % 10 == 0), 0) if s == "sub0"]
    assert len(sent) == 30
    assert fwd.pause(outlet, True, 1.0) == ([], False)
    for i in range(12):  # a keyframe at 131, then delta frames
        seq, ts = seq + 1, ts + 3000
        out = fwd.on_rtp(inbound, vp8_packet(seq, ts, keyframe=i == 0), 0)
        assert [s for s, _ in out] == ["sub1"]  # the other subscriber still gets everything
    replay, want_keyframe = fwd.pause(outlet, False, 10.0)
    assert want_keyframe is True
    assert [sink for sink, _ in replay] == ["sub0"] * 12  # from the cache's last keyframe, at once
    after = [d for s, d in fwd.on_rtp(inbound, vp8_packet(seq + 1, ts + 3000, keyframe=False), 0) if s == "sub0"]
    seqs = [RtpPacket.parse(d).sequence_number for d in sent + [d for _, d in replay] + after]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:]))  # no gap the receiver would count as loss
    stamps = [RtpPacket.parse(d).timestamp for d in [sent[-1], replay[0][1]]]
    assert 0 < (stamps[1] - stamps[0]) & 0xFFFFFFFF < 0x80000000  # and time goes forward


def test_a_paused_outlet_waits_for_a_keyframe_when_none_is_cached_and_gets_no_rtx() -> None:
    fwd: Forwarder[str] = Forwarder()
    inbound: Inbound[str] = Inbound(TrackKey("alice", "video"), VP8, KINDS)
    outlet, rewriter = subscriber("sub0")
    fwd.pause(outlet, True, 0.0)  # hidden before it was even attached
    assert fwd.attach(outlet, inbound, 0.0) == ([], False)
    assert fwd.ready(outlet, rewriter, 0.0) == ([], False)
    assert fwd.on_rtp(inbound, vp8_packet(1, 3000, keyframe=True), 0) == []
    assert fwd.on_rtp(inbound, vp8_packet(2, 6000, keyframe=False), 0) == []
    assert fwd.on_nack(outlet, [1], 0.5) == []
    inbound2: Inbound[str] = Inbound(TrackKey("bob", "video"), VP8, KINDS)
    fwd.attach(outlet, inbound2, 1.0)  # its section is reused for someone else, still hidden
    assert fwd.on_rtp(inbound2, vp8_packet(50, 3000, keyframe=False), 0) == []
    replay, want_keyframe = fwd.pause(outlet, False, 2.0)
    assert replay == [] and want_keyframe is True  # nothing to replay: a keyframe is asked for...
    assert fwd.on_rtp(inbound2, vp8_packet(51, 6000, keyframe=False), 0) == []  # ...and waited for
    assert [s for s, _ in fwd.on_rtp(inbound2, vp8_packet(52, 9000, keyframe=True), 0)] == ["sub0"]


def test_views_and_view_size() -> None:
    fwd: Forwarder[str] = Forwarder()
    assert fwd.view_size("s", "alice") is None  # no view: size unknown, everything forwarded
    assert fwd.views.shows("s", TrackKey("alice", "video"))
    fwd.views.set("s", [Tile("alice", "camera", 640, 360), Tile("bob", "screen", 1280, 720)])
    assert fwd.view_size("s", "alice") == (640, 360)
    assert fwd.view_size("s", "bob", "screen") == (1280, 720)
    assert fwd.view_size("s", "bob") == (0, 0)  # not shown
    assert not fwd.views.shows("s", TrackKey("carol", "video"))
    assert fwd.views.shows("s", TrackKey("carol", "audio"))  # a view is about videos only
    fwd.views.forget("s")
    assert fwd.view_size("s", "alice") is None


def view(videos: object) -> str:
    return json.dumps({"type": "view", "videos": videos})


def test_the_view_message_is_parsed_strictly() -> None:
    parsed = parse_client_message(view([{"participant_id": "p1", "width": 320, "height": 180}, {"participant_id": "p1", "source": "screen", "width": 1, "height": MAX_SIZE}]))
    assert parsed == View([Tile("p1", "camera", 320, 180), Tile("p1", "screen", 1, MAX_SIZE)])
    assert parse_client_message(view([])) == View([])


@pytest.mark.parametrize(
    ("videos", "message"),
    [
        (None, "needs 'videos', a list"),
        ({"participant_id": "p"}, "needs 'videos', a list"),
        ([{"participant_id": f"p{i}", "width": 1, "height": 1} for i in range(MAX_TILES + 1)], f"at most {MAX_TILES} videos, not {MAX_TILES + 1}"),
        (["p1"], r"videos\[0\] must be an object"),
        ([{"participant_id": "p", "width": 1, "height": 1, "colour": "red"}], r"videos\[0\] has unknown field 'colour'"),
        ([{"width": 1, "height": 1}], r"videos\[0\].participant_id must be"),
        ([{"participant_id": "x" * 65, "width": 1, "height": 1}], r"participant_id must be .* 1 to 64"),
        ([{"participant_id": "p", "source": "microphone", "width": 1, "height": 1}], r"source must be 'camera' or 'screen'"),
        ([{"participant_id": "p", "width": 1.5, "height": 1}], r"videos\[0\].width must be an integer"),
        ([{"participant_id": "p", "width": True, "height": 1}], r"width must be an integer"),
        ([{"participant_id": "p", "width": 10, "height": 0}], r"height must be between 1 and 16384, not 0"),
        ([{"participant_id": "p", "width": 10**6, "height": 1}], r"width must be between 1 and 16384"),
        ([{"participant_id": "p", "width": 1, "height": 1}, {"participant_id": "q", "width": 1, "height": 1}, {"participant_id": "p", "source": "camera", "width": 2, "height": 2}], r"videos\[2\] repeats the camera of participant 'p'"),
    ],
)
def test_bad_views_get_a_precise_error(videos: object, message: str) -> None:
    with pytest.raises(SignalingError, match=message) as info:
        parse_client_message(view(videos))
    assert info.value.code == "bad_request"
