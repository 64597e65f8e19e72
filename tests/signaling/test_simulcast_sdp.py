"""Reading simulcast from a publish offer and answering it (sfu.signaling.simulcast_sdp)."""

from __future__ import annotations

import pytest
from aiortc import sdp

from sfu.signaling.messages import SignalingError
from sfu.signaling.simulcast_sdp import RID_URI, RRID_URI, SimulcastOffer, add_to_answer, read_offer

VIDEO = """m=video 9 UDP/TLS/RTP/SAVPF 96 97
c=IN IP4 0.0.0.0
a=mid:1
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id
a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id
a=sendonly
a=rtpmap:96 VP8/90000
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
{rids}"""
AUDIO = "m=audio 9 UDP/TLS/RTP/SAVPF 111\nc=IN IP4 0.0.0.0\na=mid:0\na=rtpmap:111 opus/48000/2\n"
HEAD = "v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\na=group:BUNDLE 0 1\n"
LAYERS = "a=rid:q send\na=rid:h send\na=rid:f send\na=simulcast:send q;h;f\n"


def offer(rids: str = LAYERS) -> str:
    return (HEAD + AUDIO + VIDEO.format(rids=rids)).replace("\n", "\r\n")


def test_a_browser_offer_of_three_layers() -> None:
    assert read_offer(offer()) == {"1": SimulcastOffer("1", ("q", "h", "f"), 10, 11)}
    assert read_offer(offer("")) == {}  # no simulcast
    # alternatives and paused layers: the first / as named
    got = read_offer(offer("a=rid:a send\na=rid:b send\na=rid:c send\na=simulcast:send a,b;~c\n"))
    assert got["1"].rids == ("a", "c")
    # one layer is no simulcast; neither are layers that cannot be told apart
    assert read_offer(offer("a=rid:q send\na=simulcast:send q\n")) == {}
    assert read_offer(offer(LAYERS).replace(f"a=extmap:10 {RID_URI}\r\n", "")) == {}


@pytest.mark.parametrize(
    ("rids", "message"),
    [
        ("a=rid:a send\na=rid:b send\na=rid:c send\na=rid:d send\na=simulcast:send a;b;c;d\n", "4 simulcast layers; at most 3"),
        ("a=rid:q send\na=rid:h send\na=simulcast:send q;x\n", "'x' without an a=rid line"),
        ("a=rid:q send\na=simulcast:send q;q\n", "twice"),
        (f"a=rid:{'x' * 17} send\na=rid:q send\na=simulcast:send q;{'x' * 17}\n", "1 to 16 characters"),
        ("a=rid:q send\na=rid:h send\na=simulcast:recv q;h\n", "does not send"),
        ("a=rid:q send\na=rid:h\"x send\na=simulcast:send q;h\"x\n", "letters, digits"),
    ],
)
def test_bad_simulcast_is_refused_precisely(rids: str, message: str) -> None:
    with pytest.raises(SignalingError, match=message) as info:
        read_offer(offer(rids))
    assert info.value.code == "bad_sdp"


def test_the_answer_gets_the_rids_and_stays_parseable() -> None:
    answer = (HEAD + AUDIO + VIDEO.format(rids="").replace("a=sendonly", "a=recvonly")).replace("\n", "\r\n")
    answer = answer.replace(f"a=extmap:10 {RID_URI}\r\na=extmap:11 {RRID_URI}\r\n", "")  # as aiortc writes it
    out = add_to_answer(answer, [SimulcastOffer("1", ("q", "h", "f"), 10, 11)])
    video = out.split("m=video")[1]
    assert f"a=extmap:10 {RID_URI}" in video and f"a=extmap:11 {RRID_URI}" in video
    assert "a=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\na=simulcast:recv q;h;f\r\n" in video
    assert "a=rid" not in out.split("m=video")[0]  # the audio section is left alone
    parsed = sdp.SessionDescription.parse(out)
    assert [m.kind for m in parsed.media] == ["audio", "video"]
    assert add_to_answer(answer, []) == answer
