"""WHIP and WHEP with two nodes sharing one Redis: the node that does not host
the call redirects (307) to the one that does, before taking any seat."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import running_server
from tests.store.conftest import RedisServer

OFFER = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"  # (no media: refused where it is judged)
SDP = {"Content-Type": "application/sdp"}


async def test_whip_and_whep_go_to_the_node_hosting_the_call(tmp_path: Path, redis_db: RedisServer) -> None:
    async with (
        running_server(tmp_path / "a", store=redis_db.url(node_id="a")) as (a, a_config),
        running_server(tmp_path / "b", store=redis_db.url(node_id="b")) as (b, b_config),
    ):
        token = (await (await a.post("/api/links", json={"type": "video"})).json())["token"]
        grant = await (await b.post(f"/api/links/{token}/join", json={"name": "first"})).json()
        assert grant["ws_url"].startswith(f"ws://127.0.0.1:{b_config.port}/")  # b hosts the call
        for path in (f"/whip/{token}?name=Studio", f"/whep/{token}"):
            resp = await a.post(path, data=OFFER, headers=SDP, allow_redirects=False)
            assert resp.status == 307, await resp.text()
            assert resp.headers["Location"] == f"http://127.0.0.1:{b_config.port}{path}"
            assert resp.headers["Access-Control-Allow-Origin"] == "*"  # a browser player may follow it
            judged = await b.post(path, data=OFFER, headers=SDP, allow_redirects=False)
            assert judged.status == 400 and "no media" in (await judged.json())["error"]["message"]
        # a call nobody hosts yet is this node's: no redirect
        other = (await (await a.post("/api/links", json={"type": "video"})).json())["token"]
        resp = await a.post(f"/whep/{other}", data=OFFER, headers=SDP, allow_redirects=False)
        assert resp.status == 400
