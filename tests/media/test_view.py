"""View-driven forwarding with real aiortc peers: a video the client does not
show is not sent to it; shown again, it decodes in the right colour at once."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.media.conftest import Server, new_link
from tests.media.peer import Peer, wait_for


async def flowing(peer: Peer, kind: str, seconds: float = 0.8) -> set[str]:
    """Whose ``kind`` RTP arrived at ``peer`` during ``seconds``."""
    before = await peer.packets_by_mid()
    await asyncio.sleep(seconds)
    after = await peer.packets_by_mid()
    return {peer.tracks[m][0] for m, n in after.items() if n > before.get(m, 0) and m in peer.tracks and peer.tracks[m][1] == kind}


async def settles(peer: Peer, kind: str, expected: set[str], timeout: float = 10.0) -> set[str]:
    """What flows to ``peer``, sampled again until it is exactly ``expected``
    (under load, packets already sent still arrive a while) or ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        seen = await flowing(peer, kind, 0.6)
        if seen == expected or asyncio.get_running_loop().time() > deadline:
            return seen


def tile(peer: Peer, width: int = 320, height: int = 180, **extra: Any) -> dict[str, Any]:
    return {"participant_id": peer.participant_id, "width": width, "height": height, **extra}


async def test_only_the_videos_in_view_are_forwarded(server: Server, http: aiohttp.ClientSession) -> None:
    token = await new_link(http, server)
    publishers = [Peer(http, server.url, token, f"pub{i}", i, encoded_video=True) for i in range(3)]
    viewer = Peer(http, server.url, token, "viewer", 5, audio=False, video=False)
    everyone = [*publishers, viewer]
    try:
        for peer in everyone:
            await peer.join()
        a, b, c = publishers
        assert await wait_for(lambda: all(viewer.sees(p) for p in publishers), 15)
        await viewer.send({"type": "view", "videos": [tile(a, 640, 360)]})
        assert await settles(viewer, "video", {a.participant_id}) == {a.participant_id}
        assert await flowing(viewer, "audio") == {p.participant_id for p in publishers}  # a view is about video
        assert await flowing(a, "video") == {b.participant_id, c.participant_id}  # others are unaffected
        # b appears: decoded in b's colour straight away (the cache's last keyframe)
        await viewer.send({"type": "view", "videos": [tile(a), tile(b)]})
        assert await wait_for(lambda: viewer.sees(b, window=0.5), 3)
        assert await settles(viewer, "video", {a.participant_id, b.participant_id}) == {a.participant_id, b.participant_id}
        # an empty view: no video at all; and a bad one is refused, the last good one kept
        await viewer.send({"type": "view", "videos": []})
        assert await settles(viewer, "video", set()) == set()
        await viewer.send({"type": "view", "videos": [tile(c, width=0)]})
        assert await wait_for(lambda: any(e["code"] == "bad_request" for e in viewer.errors), 3)
        assert "videos[0].width must be between 1 and 16384, not 0" in viewer.errors[-1]["message"]
        assert await flowing(viewer, "video") == set()
        # a new publisher joins a viewer that sent a view: not shown, not sent
        d = Peer(http, server.url, token, "late", 3, encoded_video=True)
        everyone.append(d)
        await d.join()
        assert await wait_for(lambda: len(viewer.mids_of(d.participant_id, "video")) == 1, 10)
        await asyncio.sleep(0.5)
        assert await settles(viewer, "video", set()) == set()
        await viewer.send({"type": "view", "videos": [tile(d), tile(c)]})
        assert await wait_for(lambda: viewer.sees(d, window=0.5) and viewer.sees(c, window=0.5), 5)
        assert viewer.errors[-1]["code"] == "bad_request" and len(viewer.errors) == 1
    finally:
        for peer in everyone:
            await peer.close()
