"""Publish re-offers (docs/protocol.md allows them: a camera turned on later):
the subscribers keep decoding the publisher's media throughout."""

from __future__ import annotations

import asyncio

import aiohttp
from aiortc import RTCRtpSender, RTCSessionDescription

from tests.media.attacker import MediaWatch
from tests.media.conftest import Server, new_link
from tests.media.peer import COLOURS, ColourTrack, Peer, wait_for


async def reoffer(peer: Peer, add_video: bool = False) -> str:
    """Offer again on the peer's publish connection; returns the server's answer."""
    pc = peer.publish_pc
    assert pc is not None
    if add_video:
        t = pc.addTransceiver(ColourTrack(COLOURS[peer.index % len(COLOURS)]), direction="sendonly")
        t.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in ("video/VP8", "video/rtx")])
        peer.send_video = True
    await pc.setLocalDescription(await pc.createOffer())
    peer._publish_answer = asyncio.get_running_loop().create_future()
    await peer.send({"type": "publish", "sdp": pc.localDescription.sdp})
    sdp = await asyncio.wait_for(peer._publish_answer, 10)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
    return sdp


async def test_reoffers_keep_the_publishers_media_flowing(server: Server, http: aiohttp.ClientSession) -> None:
    token = await new_link(http, server)
    a = Peer(http, server.url, token, "a", 0, video=False)  # microphone only, camera later
    b = Peer(http, server.url, token, "b", 1)
    try:
        await a.join()
        await b.join()
        assert await wait_for(lambda: b.hears(a) and a.hears(b) and a.sees(b), 15)
        offers_before = sum(1 for m in b.messages if m["type"] == "subscribe")
        with MediaWatch([a, b]) as watch:
            for _ in range(3):  # re-offers that change nothing
                await reoffer(a)
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.5)
        print(f"unchanged re-offers: longest gap {watch.longest:.2f} s ({watch.worst})")
        assert watch.longest < 1.0, f"{watch.worst} stalled {watch.longest:.2f} s"
        assert b.hears(a) and a.hears(b) and a.sees(b)
        # nothing changed downstream: b was not even renegotiated
        assert sum(1 for m in b.messages if m["type"] == "subscribe") == offers_before

        with MediaWatch([a, b]) as watch:  # audio only on a's side so far
            await reoffer(a, add_video=True)
            assert await wait_for(lambda: b.sees(a), 10), "the camera turned on later never showed"
            await asyncio.sleep(1.5)
        print(f"re-offer adding video: longest gap {watch.longest:.2f} s ({watch.worst})")
        assert watch.longest < 1.0, f"{watch.worst} stalled {watch.longest:.2f} s"
        assert b.hears(a) and b.sees(a) and a.hears(b) and a.sees(b)
        assert not [e for e in a.errors + b.errors], a.errors + b.errors
    finally:
        await asyncio.gather(a.leave(), b.leave(), return_exceptions=True)
