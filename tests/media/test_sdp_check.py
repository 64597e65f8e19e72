"""The publish-offer check: what it refuses, and Chromium's bundled offers it must accept."""

from __future__ import annotations

import pytest

from sfu.signaling.messages import SignalingError
from sfu.signaling.sdp_check import check_publish_offer, check_subscribe_answer

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


def candidates(n: int, kind: str = "host", start: int = 50000) -> str:
    return "".join(f"a=candidate:{i} 1 udp 2130706431 127.0.0.1 {start + i} typ {kind}\r\n" for i in range(n))


def with_candidates(extra: str) -> str:
    return offer([("audio", "0", True), ("video", "1", False)]).replace(CANDIDATE, CANDIDATE + extra, 1)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (candidates(16, start=50001), "17 ICE candidates; at most 16"),
        (candidates(4000, start=1), "ICE candidates; at most 16 per media section"),
        (CANDIDATE * 16, "17 ICE candidates; at most 16"),
        ("a=candidate:9 1 udp 1 127.0.0.1 50009 typ prflx\r\n", "type 'prflx'"),
        ("a=candidate:9 1 sctp 1 127.0.0.1 50009 typ host\r\n", "transport 'sctp'"),
        ("a=candidate:9 1 udp 1 example.com 50009 typ host\r\n", "address 'example.com'"),
        ("a=candidate:9 7 udp 1 127.0.0.1 50009 typ host\r\n", "component 7"),
    ],
)
def test_candidate_refusals(extra: str, message: str) -> None:
    with pytest.raises(SignalingError, match=message) as info:
        check_publish_offer(with_candidates(extra), [])
    assert info.value.code == "bad_sdp"


def test_browser_candidates_are_accepted() -> None:
    extra = (
        "a=candidate:2 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active\r\n"
        "a=candidate:3 1 udp 2122260223 0c3d1b5e-6f1a-4e0d-9b7a-3c2d1e0f9a8b.local 50001 typ host\r\n"
        "a=candidate:4 1 udp 1686052607 203.0.113.7 50002 typ srflx raddr 127.0.0.1 rport 50000\r\n"
        "a=candidate:5 1 udp 41885439 198.51.100.2 3478 typ relay raddr 203.0.113.7 rport 50002\r\n"
        "a=candidate:6 1 udp 2122262783 ::1 50003 typ host\r\n"
    )
    check_publish_offer(with_candidates(extra), [])


def test_repeated_candidates_are_accepted() -> None:
    """Chromium on two interfaces sharing 127.0.0.1 offers its TCP-active
    candidate twice (RFC 6544's port 9): the offer is valid."""
    tcp = "a=candidate:2 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active\r\n"
    check_publish_offer(with_candidates(tcp + tcp), [])


def answer(sections: list[tuple[str, str, bool]]) -> str:
    return offer(sections).replace("a=setup:actpass", "a=setup:active").replace("a=sendonly", "a=recvonly")


def test_subscribe_answer_checks() -> None:
    offered: list[tuple[str, str | None]] = [("audio", "0"), ("video", "1")]
    check_subscribe_answer(answer([("audio", "0", True), ("video", "1", False)]), offered)
    with pytest.raises(SignalingError, match="answer the offer's 2 media sections"):
        check_subscribe_answer(answer([("audio", "0", True)]), offered)
    with pytest.raises(SignalingError, match="answer the offer's 2 media sections"):
        check_subscribe_answer(answer([("audio", "0", True), ("video", "1", False), ("video", "2", False)]), offered)
    flooded = answer([("audio", "0", True), ("video", "1", False)]).replace(CANDIDATE, CANDIDATE + candidates(40, start=1), 1)
    with pytest.raises(SignalingError, match="at most 16"):
        check_subscribe_answer(flooded, offered)
