"""Video calls with real aiortc peers through a real ``callsfu serve``."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

import sfu.native as native

from tests.media.conftest import Server, new_link
from tests.media.peer import Peer, wait_for


@pytest.mark.parametrize("server", ["native", "python"], indirect=True)
async def test_video_call_of_four_everyone_sees_and_hears_the_right_people(
    server: Server, http: aiohttp.ClientSession, request: pytest.FixtureRequest
) -> None:
    path = request.node.callspec.params["server"]
    if path == "native" and not native.AVAILABLE:
        pytest.skip(f"native fan-out not built: {native.BUILD_ERROR}")
    assert f"forwarding path: {'native C fan-out' if path == 'native' else 'python'}" in server.log()
    token = await new_link(http, server)
    peers = [Peer(http, server.url, token, f"person {i}", i) for i in range(4)]
    try:
        for p in peers:
            await p.join()

        def all_ok() -> bool:
            return all(a.sees(b) and a.hears(b) for a in peers for b in peers if a is not b)

        ok = await wait_for(all_ok, 20)
        report = {
            a.name: {b.name: (a.sees(b), a.hears(b)) for b in peers if b is not a} for a in peers
        }
        detail = {
            a.name: {mid: (a.tracks.get(mid), r.kind, r.frames, r.tone() if r.kind == "audio" else r.colour)
                     for mid, r in a.received.items()} for a in peers
        }
        assert ok, (report, detail)
        # the SFU is the DTLS server of the subscribe connections: its preferred profile wins there
        assert "DTLS up as server: SRTP profile SRTP_AEAD_AES_128_GCM" in server.log()
        for a in peers:
            assert a.errors == []
            # each mid of a's subscribe connection carries exactly one other participant's track
            assert sorted(a.tracks.values()) == sorted(
                (b.participant_id, k) for b in peers if b is not a for k in ("audio", "video")
            )
            assert set(a.roster) == {b.participant_id for b in peers if b is not a}
    finally:
        await asyncio.gather(*(p.leave() for p in peers), return_exceptions=True)
