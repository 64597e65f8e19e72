"""WHIP/WHEP HTTP rules in-process (no media): expiry, the name, the body, the methods."""

from __future__ import annotations

from pathlib import Path

from control.clock import FakeClock
from tests.helpers import running_server

SDP = {"Content-Type": "application/sdp"}
OFFER = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


async def test_expired_links_refuse_whip_and_whep_and_bad_requests_are_precise(tmp_path: Path) -> None:
    clock = FakeClock()
    async with running_server(tmp_path, clock, link_ttl=60) as (client, _):
        token = (await (await client.post("/api/links", json={"type": "video"})).json())["token"]
        bad_name = await client.post(f"/whip/{token}?name=%E2%80%AEevil", data=OFFER, headers=SDP)
        assert bad_name.status == 400 and "name" in (await bad_name.json())["error"]["message"]
        too_big = await client.post(f"/whip/{token}", data="v=0\r\n" + "a=x\r\n" * 4000, headers=SDP)
        assert too_big.status == 400 and "16384" in (await too_big.json())["error"]["message"]
        not_utf8 = await client.post(f"/whep/{token}", data=b"v=0\r\n\xff\xfe", headers=SDP)
        assert not_utf8.status == 400
        for method in ("PATCH", "DELETE"):
            resp = await client.request(method, f"/whip/{token}/no-such-session")
            assert resp.status == (405 if method == "PATCH" else 404), method
        assert (await (await client.get(f"/api/links/{token}")).json())["participants"] == 0  # nothing held a seat
        clock.advance(61)
        for path in (f"/whip/{token}", f"/whep/{token}"):
            resp = await client.post(path, data=OFFER, headers=SDP)
            assert resp.status == 410 and (await resp.json())["error"]["code"] == "link_expired", path
