"""A subscribe answer the SFU checked is parsed once: aiortc gets that parse."""

from __future__ import annotations

from aiortc import sdp

from sfu.rtc import sdp_reuse

ANSWER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 127.0.0.1\r\na=mid:0\r\na=recvonly\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
)


def test_the_remembered_parse_is_given_once_for_that_very_text_and_others_are_parsed() -> None:
    sdp_reuse.install()
    text = "".join(ANSWER)  # a string object of its own
    parsed = sdp.SessionDescription.parse(text)
    sdp_reuse.remember(text, parsed)
    assert sdp.SessionDescription.parse(text) is parsed
    again = sdp.SessionDescription.parse(text)  # once only: aiortc keeps what it was given
    assert again is not parsed and str(again) == str(parsed)
    sdp_reuse.remember(text, parsed)
    other = "".join(list(text))  # the same characters, another object: parsed anew
    assert other == text and other is not text
    assert sdp.SessionDescription.parse(other) is not parsed


def test_at_most_a_few_parses_are_kept_the_oldest_let_go_first() -> None:
    sdp_reuse.install()
    texts = [ANSWER + f"a=x-{i}\r\n" for i in range(sdp_reuse.KEPT + 2)]
    parses = [sdp.SessionDescription.parse(t) for t in texts]
    for t, p in zip(texts, parses):
        sdp_reuse.remember(t, p)
    assert sdp.SessionDescription.parse(texts[0]) is not parses[0]  # let go
    assert sdp.SessionDescription.parse(texts[-1]) is parses[-1]
