"""A subscribe answer the SFU checked is parsed once: aiortc gets that parse."""

from __future__ import annotations

from aiortc import RTCPeerConnection, sdp

from sfu.rtc import sdp_reuse
from sfu.rtc.silent_track import SilentTrack
from sfu.session import new_peer_connection, offered_codecs

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


def differences(a: object, b: object, path: str = "description") -> list[str]:
    """Where two parsed descriptions differ, field by field."""
    if type(a) is not type(b):
        return [f"{path}: {type(a).__name__} / {type(b).__name__}"]
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):  # type: ignore[arg-type]
            return [f"{path}: {len(a)} / {len(b)} items"]  # type: ignore[arg-type]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]  # type: ignore[arg-type]
    if isinstance(a, dict):
        if a.keys() != b.keys():  # type: ignore[attr-defined]
            return [f"{path}: keys {sorted(a)} / {sorted(b)}"]  # type: ignore[call-overload]
        return [d for k in a for d in differences(a[k], b[k], f"{path}.{k}")]  # type: ignore[index]
    if hasattr(a, "__dict__") and not isinstance(a, type):
        return differences(vars(a), vars(b), path)
    return [] if a == b else [f"{path}: {a!r} / {b!r}"]


def subscriber_sections(pc: RTCPeerConnection, count: int, inactive_from: int) -> None:
    for i in range(count):
        kind = "audio" if i % 2 else "video"
        t = pc.addTransceiver(SilentTrack(kind), direction="sendonly" if i < inactive_from else "inactive")
        t.setCodecPreferences(offered_codecs(kind))


async def check_created(pc: RTCPeerConnection, kind: str) -> None:
    """What createOffer/createAnswer built is what parsing its text gives, and
    setLocalDescription takes it instead of parsing."""
    description = await (pc.createOffer() if kind == "offer" else pc.createAnswer())
    kept = sdp_reuse._kept.get(id(description.sdp))
    assert kept is not None and kept[0] is description.sdp
    fresh = sdp_reuse._original(description.sdp)
    fresh.type = kind  # (setLocalDescription sets it on either)
    assert differences(kept[1], fresh) == []
    await pc.setLocalDescription(description)
    assert id(description.sdp) not in sdp_reuse._kept  # taken


async def test_the_descriptions_the_sfu_creates_are_taken_as_built_and_equal_their_parse() -> None:
    sdp_reuse.install()
    sfu = new_peer_connection()
    subscriber_sections(sfu, 6, inactive_from=4)
    await check_created(sfu, "offer")  # a first subscribe offer
    client = RTCPeerConnection()
    await client.setRemoteDescription(sfu.localDescription)
    await check_created(client, "answer")  # an aiortc peer's answer (the load generator's)
    await sfu.setRemoteDescription(client.localDescription)
    subscriber_sections(sfu, 4, inactive_from=4)
    sfu.getTransceivers()[0].direction = "inactive"
    await check_created(sfu, "offer")  # a re-offer: sections added, one gone inactive
    publisher = RTCPeerConnection()
    publisher.addTransceiver("audio", direction="sendonly")
    publisher.addTransceiver("video", direction="sendonly")
    await publisher.setLocalDescription(await publisher.createOffer())
    publish = new_peer_connection()
    await publish.setRemoteDescription(publisher.localDescription)
    await check_created(publish, "answer")  # a publish answer
    for pc in (sfu, client, publisher, publish):
        await pc.close()
