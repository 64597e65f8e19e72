"""The publish-offer check: what it refuses, and Chromium's bundled offers it must accept."""

from __future__ import annotations

import pytest

from sfu.signaling.messages import SignalingError
from sfu.signaling.sdp_check import check_publish_offer

SECTION = (
    "m={kind} {port} UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 127.0.0.1\r\na=mid:{mid}\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 AB:CD:EF\r\na=setup:actpass\r\na=sendonly\r\na=rtcp-mux\r\n"
    "a=rtpmap:96 {codec}\r\n{candidates}"
)
CANDIDATE = "a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n"


def offer(sections: list[tuple[str, str, bool]], bundle: bool = True) -> str:
    head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    if bundle:
        head += "a=group:BUNDLE " + " ".join(mid for _, mid, _ in sections) + "\r\n"
    body = "".join(
        SECTION.format(
            kind=kind, mid=mid, port=50000 if cands else 9,
            codec="opus/48000/2" if kind == "audio" else "VP8/90000",
            candidates=CANDIDATE if cands else "",
        )
        for kind, mid, cands in sections
    )
    return head + body


def test_chromium_bundled_offer_with_candidates_in_the_first_section_only() -> None:
    check_publish_offer(offer([("audio", "0", True), ("video", "1", False)]), [])


def test_unbundled_offer_needs_candidates_everywhere() -> None:
    check_publish_offer(offer([("audio", "0", True), ("video", "1", True)], bundle=False), [])
    with pytest.raises(SignalingError, match="no ICE candidates"):
        check_publish_offer(offer([("audio", "0", True), ("video", "1", False)], bundle=False), [])


@pytest.mark.parametrize(
    ("sdp", "current", "message"),
    [
        ("v=0\r\nnonsense", [], "no media section"),
        (offer([("audio", "0", False), ("video", "1", False)]), [], "no ICE candidates"),
        (offer([("video", "0", True)]), [("audio", "0")], "same order"),
        (offer([("audio", "0", True)] * 9), [], "at most 8"),
    ],
)
def test_refusals(sdp: str, current: list[tuple[str, str | None]], message: str) -> None:
    with pytest.raises(SignalingError, match=message) as info:
        check_publish_offer(sdp, current)
    assert info.value.code == "bad_sdp"


def test_a_reoffer_may_add_sections() -> None:
    check_publish_offer(offer([("audio", "0", True), ("video", "1", False)]), [("audio", "0")])
