"""Who is speaking, decided by the server from RFC 6464 levels, and loudest-N
audio: real aiortc peers send a tone (with its level) or silence (127)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator, Iterator

import aiohttp
import pytest
from aiortc import sdp as sdp_module

from tests.media.conftest import new_link
from tests.media.peer import Peer, wait_for
from tests.server import Server

LOUDEST = 2


@pytest.fixture(scope="module")
def loud_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("speakers"), "--loudest-audio", str(LOUDEST))
    yield srv
    srv.stop()


@pytest.fixture
async def peers(loud_server: Server) -> AsyncIterator[list[Peer]]:
    """Four publishers whose tones carry levels 10, 15, 20, 25 (-10 to -25
    dBov) while they speak, and a listener who publishes nothing."""
    async with aiohttp.ClientSession() as http:
        token = await new_link(http, loud_server, "audio")
        group = [Peer(http, loud_server.url, token, f"p{i}", i, video=False, audio_level=10 + 5 * i, decode=False) for i in range(4)]
        group.append(Peer(http, loud_server.url, token, "listener", 4, video=False, audio=False, decode=False))
        try:
            for peer in group:
                await peer.join()
            yield group
        finally:
            for peer in group:
                await peer.close()


async def flowing_mids(peer: Peer, seconds: float = 1.0) -> set[str]:
    """The subscribe mids on which RTP arrived during ``seconds``."""
    before = await peer.packets_by_mid()
    await asyncio.sleep(seconds)
    after = await peer.packets_by_mid()
    return {mid for mid, n in after.items() if n > before.get(mid, 0)}


def pids_of(peer: Peer, mids: set[str]) -> set[str]:
    return {peer.tracks[mid][0] for mid in mids if mid in peer.tracks}


async def test_the_speaker_order_follows_who_speaks(peers: list[Peer]) -> None:
    p0, p1, p2, p3, listener = peers
    # (`tracks` comes just before its subscribe offer: wait for both)
    assert await wait_for(lambda: len(listener.tracks) == 4 and any(m["type"] == "subscribe" for m in listener.messages), 10)
    # the levels are negotiated both ways: in the publish answer and the subscribe offer
    for peer in (p0, listener):
        offer = next(m["sdp"] for m in peer.messages if m["type"] in ("publish_answer", "subscribe"))
        media = sdp_module.SessionDescription.parse(offer).media
        assert all(any(e.uri == "urn:ietf:params:rtp-hdrext:ssrc-audio-level" for e in m.rtp.headerExtensions) for m in media)
    await asyncio.sleep(0.5)
    assert listener.speakers() in (None, [])  # all silent: nobody speaks
    assert await flowing_mids(listener, 0.6) == set()  # and silence is not forwarded
    p2.speak()
    assert await wait_for(lambda: listener.speakers() == [p2.participant_id], 5)
    assert await wait_for(lambda: p0.speakers() == [p2.participant_id], 2)  # everyone is told, speakers too
    assert pids_of(listener, await flowing_mids(listener)) == {p2.participant_id}
    p1.speak()  # louder (-15 dBov against -20): first
    assert await wait_for(lambda: listener.speakers() == [p1.participant_id, p2.participant_id], 5)
    p1.speak(False)
    p2.speak(False)
    p3.speak()
    assert await wait_for(lambda: listener.speakers() == [p3.participant_id], 5)
    p3.speak(False)
    assert await wait_for(lambda: listener.speakers() == [], 5)
    changes = [m for m in listener.messages if m["type"] == "speakers"]
    assert len(changes) < 20  # sent on change, not per window


async def test_loudest_n_limits_the_audio_streams_received(peers: list[Peer]) -> None:
    p0, p1, p2, p3, listener = peers
    assert await wait_for(lambda: len(listener.tracks) == 4 and len(p3.tracks) == 3, 10)
    for peer in peers[:4]:
        peer.speak()
    assert await wait_for(lambda: (listener.speakers() or [])[:2] == [p0.participant_id, p1.participant_id], 5)
    await asyncio.sleep(0.3)
    # four speak at once: the listener gets the two loudest only
    assert pids_of(listener, await flowing_mids(listener)) == {p0.participant_id, p1.participant_id}
    # p3 gets two of the others (never more), the loudest of them
    assert pids_of(p3, await flowing_mids(p3)) == {p0.participant_id, p1.participant_id}
    # the loudest stops: the next loudest takes the place
    p0.speak(False)
    assert await wait_for(lambda: (listener.speakers() or [])[:2] == [p1.participant_id, p2.participant_id], 5)
    await asyncio.sleep(0.3)
    assert pids_of(listener, await flowing_mids(listener)) == {p1.participant_id, p2.participant_id}
