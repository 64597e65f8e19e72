"""Firefox ESR in a call: its own SDP, ICE and jitter buffer against the SFU.

A real ``callsfu serve``, an aiortc publisher (tests/media/peer.py) sending
solid-colour VP8, and headless Firefox ESR opening the call page, all on
127.0.0.1 inside the test namespace. Firefox reads with Linux's default
208 KiB socket buffer, so an unpaced cache replay (hundreds of packets at
once) loses packets there where Chromium and aiortc lose none.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.firefox.browser import INBOUND_VIDEO_JS, STATE_JS, TILE_COLOUR_JS, Firefox, wait_until
from tests.media.peer import COLOURS, Peer, nearest_colour, wait_for
from tests.server import Server

JOINS = 20
REPLAY_GROWTH = 1.5  # seconds between joins (each join asks for a keyframe)
MAX_COLOUR_DISTANCE = 60.0


async def participants(http: aiohttp.ClientSession, server: Server, token: str) -> int:
    async with http.get(f"{server.url}/api/links/{token}") as resp:
        return int((await resp.json())["participants"])


async def join(firefox: Firefox, server: Server, token: str, name: str) -> int:
    page = await firefox.open(f"{server.url}/call/{token}?name={name}&autojoin=1")
    await wait_until(lambda: firefox.eval(page, STATE_JS), 20, what="the call page to load")
    return page


async def decoding(firefox: Firefox, page: int) -> dict[str, Any] | None:
    """The inbound video stream once it has decoded frames."""
    stats = await firefox.eval(page, INBOUND_VIDEO_JS)
    live = [s for s in stats if s["framesDecoded"] > 0]
    return live[0] if len(live) == 1 else None


async def diagnose(firefox: Firefox, page: int) -> str:
    try:
        state = await firefox.eval(page, "() => ({state: window.callsfu.state, reason: window.callsfu.reason, "
                                         "tracks: window.callsfu.tracks, tiles: window.callsfu.tiles()})")  # fmt: skip
        return f"{state}\n" + "\n".join(await firefox.logs(page))
    except Exception as exc:
        return f"(no state: {exc})"


async def test_firefox_joins_and_decodes_the_publishers_video(
    server: Server, http: aiohttp.ClientSession, firefox: Firefox
) -> None:
    token = server.create_link("video")["token"]
    publisher = Peer(http, server.url, token, "publisher", 0, audio=False, decode=False)
    try:
        await publisher.join()
        page = await join(firefox, server, token, "Fox")
        try:
            stream = await wait_until(lambda: decoding(firefox, page), 30, what="decoded video in Firefox")
        except AssertionError:
            print(await diagnose(firefox, page))
            raise
        assert stream["framesDecoded"] > 0
        colour = await wait_until(
            lambda: firefox.eval(page, TILE_COLOUR_JS, publisher.participant_id), 15, what="the publisher's tile"
        )
        assert nearest_colour(tuple(colour)) == 0, colour  # the publisher's red, not a black frame
        distance = sum((a - b) ** 2 for a, b in zip(colour, COLOURS[0])) ** 0.5
        assert distance < MAX_COLOUR_DISTANCE, (colour, COLOURS[0])
        # Firefox's own camera reaches the publisher through the SFU as well
        assert await wait_for(lambda: bool(publisher.mids_of(publisher_peer_id(publisher), "video")), 15)
        await firefox.close_page(page)
    finally:
        await publisher.leave()


def publisher_peer_id(publisher: Peer) -> str:
    """The participant id of the one other participant the publisher knows of."""
    others = [pid for pid in publisher.roster if pid != publisher.participant_id]
    return others[0] if others else ""


async def test_a_late_joiner_in_firefox_loses_no_replayed_packet(
    server: Server, http: aiohttp.ClientSession, firefox: Firefox
) -> None:
    """Issue 8: each join gets the cache since the last keyframe replayed; over
    20 joins (one browser, a fresh page and peer connection each) Firefox's
    inbound-rtp packetsLost stays 0."""
    token = server.create_link("video")["token"]
    # full-size packets, as a camera sends: each replay is a few hundred of them
    publisher = Peer(http, server.url, token, "publisher", 0, audio=False, decode=False, textured=True)
    results: list[dict[str, Any]] = []
    try:
        await publisher.join()
        for n in range(JOINS):
            await asyncio.sleep(REPLAY_GROWTH)  # the cache since the last keyframe grows: a bigger replay
            page = await join(firefox, server, token, f"Late{n}")
            try:
                first = await wait_until(lambda: decoding(firefox, page), 30, what=f"join {n}: decoded video")
                # the replay has drained and live packets flow: lost packets are counted by now
                await wait_until(
                    lambda: _received_more(firefox, page, first["packetsReceived"] + 60), 20, what=f"join {n}: flow"
                )
                stream = await decoding(firefox, page)
            except AssertionError:
                print(await diagnose(firefox, page))
                raise
            assert stream is not None
            results.append(stream)
            print(f"join {n}: {stream['packetsReceived']} received, {stream['packetsLost']} lost, "
                  f"{stream['nackCount']} NACKs, {stream['framesDecoded']} frames")  # fmt: skip
            await firefox.close_page(page)
            await wait_until(lambda: _alone(http, server, token), 15, what=f"join {n}: the page's seat freed")
    finally:
        await publisher.leave()
    assert len(results) == JOINS
    lost = [r["packetsLost"] for r in results]
    assert lost == [0] * JOINS, f"packetsLost per join: {lost}"


async def _received_more(firefox: Firefox, page: int, target: int) -> bool:
    stream = await decoding(firefox, page)
    return stream is not None and stream["packetsReceived"] >= target


async def _alone(http: aiohttp.ClientSession, server: Server, token: str) -> bool:
    return await participants(http, server, token) == 1
