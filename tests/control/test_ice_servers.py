"""ice_servers in the join grant: STUN as is, TURN with per-join REST credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from control.clock import FakeClock
from tests.helpers import running_server


async def test_turn_urls_get_time_limited_credentials_coturn_accepts(tmp_path: Path) -> None:
    clock = FakeClock()
    urls = ["stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp"]
    async with running_server(tmp_path, clock, ice_servers=urls, turn_secret="s3cret") as (client, _):
        token = (await (await client.post("/api/links", json={"type": "audio"})).json())["token"]
        grant = await (await client.post(f"/api/links/{token}/join", json={"name": "Ann"})).json()
    stun, turn = grant["ice_servers"]
    assert stun == {"urls": ["stun:127.0.0.1:3478"]}
    assert turn["urls"] == ["turn:127.0.0.1:3478?transport=udp"]
    expiry, participant = turn["username"].split(":")
    assert participant == grant["participant_id"] and int(expiry) == int(clock.now()) + 24 * 3600
    # coturn's use-auth-secret check: base64(HMAC-SHA1(secret, username))
    expected = base64.b64encode(hmac.new(b"s3cret", turn["username"].encode(), hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected


async def test_without_a_secret_urls_go_out_bare(tmp_path: Path) -> None:
    async with running_server(tmp_path, ice_servers=["turn:127.0.0.1:3478"]) as (client, _):
        token = (await (await client.post("/api/links", json={"type": "audio"})).json())["token"]
        grant = await (await client.post(f"/api/links/{token}/join", json={"name": "Ann"})).json()
    assert grant["ice_servers"] == [{"urls": ["turn:127.0.0.1:3478"]}]
