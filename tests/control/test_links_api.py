"""The control API of docs/protocol.md: links, errors, joins and seats."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import pytest

from control.clock import FakeClock
from tests.helpers import running_server

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{22,}$")  # >= 128 bits of base64url


def parse_time(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


async def error_of(resp) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    body = await resp.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"].endswith("."), body  # a sentence
    return resp.status, body["error"]["code"], body["error"]["message"]


async def test_create_show_and_health(tmp_path: Path) -> None:
    clock = FakeClock()
    async with running_server(tmp_path, clock) as (client, config):
        resp = await client.get("/healthz")
        health = await resp.json()
        assert resp.status == 200 and health["status"] == "ok", health
        # in-process (no --workers): one SFU, this process
        assert health["workers"] == [{"id": 0, "pid": os.getpid(), "ready": True, "calls": 0, "participants": 0}]

        resp = await client.post("/api/links", json={"type": "video", "title": "Standup"})
        assert resp.status == 201
        link = await resp.json()
        assert set(link) == {"token", "url", "type", "title", "created_at", "expires_at", "max_participants", "e2ee"}
        assert TOKEN_RE.match(link["token"])
        assert link["url"] == f"{config.public_url}/call/{link['token']}"
        assert (link["type"], link["title"], link["max_participants"]) == ("video", "Standup", 32)
        created, expires = parse_time(link["created_at"]), parse_time(link["expires_at"])
        assert created.timestamp() == int(clock.now())
        assert (expires - created).total_seconds() == 90 * 24 * 3600

        resp = await client.get(f"/api/links/{link['token']}")
        assert resp.status == 200
        shown = await resp.json()
        assert shown == {
            "type": "video",
            "title": "Standup",
            "created_at": link["created_at"],
            "expires_at": link["expires_at"],
            "max_participants": 32,
            "e2ee": False,
            "participants": 0,
            "viewers": 0,
        }

        resp = await client.post("/api/links", json={"type": "audio"})
        assert resp.status == 201
        audio = await resp.json()
        assert (audio["type"], audio["title"]) == ("audio", "")
        assert audio["token"] != link["token"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"type": "video"', "JSON"),
        ("[1, 2]", "JSON object"),
        ("{}", "'type'"),
        ('{"type": "hologram"}', "'type'"),
        ('{"type": 3}', "'type'"),
        ('{"type": "audio", "title": "' + "x" * 101 + '"}', "'title'"),
        ('{"type": "audio", "title": 7}', "'title'"),
    ],
)
async def test_create_rejects_bad_bodies(tmp_path: Path, body: str, field: str) -> None:
    async with running_server(tmp_path) as (client, _):
        resp = await client.post("/api/links", data=body, headers={"Content-Type": "application/json"})
        status, code, message = await error_of(resp)
        assert (status, code) == (400, "bad_request")
        assert field in message


async def test_title_of_100_characters_is_fine(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, _):
        resp = await client.post("/api/links", json={"type": "audio", "title": "é" * 100})
        assert resp.status == 201 and (await resp.json())["title"] == "é" * 100


async def test_unknown_token_and_unknown_path(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, _):
        for method, path in [
            ("GET", "/api/links/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            ("GET", "/api/links/short"),
            ("DELETE", "/api/links/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            ("POST", "/api/links/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/join"),
        ]:
            resp = await client.request(method, path, json={"name": "Ann"})
            status, code, _ = await error_of(resp)
            assert (status, code) == (404, "link_not_found"), (method, path)
        resp = await client.get("/api/nothing-here")
        assert (await error_of(resp))[:2] == (404, "not_found")
        resp = await client.put("/api/links")
        assert (await error_of(resp))[:2] == (405, "method_not_allowed")


async def test_expiry(tmp_path: Path) -> None:
    clock = FakeClock()
    async with running_server(tmp_path, clock, link_ttl=3600) as (client, _):
        token = (await (await client.post("/api/links", json={"type": "audio"})).json())["token"]
        clock.advance(3599)
        assert (await client.get(f"/api/links/{token}")).status == 200
        clock.advance(1)
        status, code, message = await error_of(await client.get(f"/api/links/{token}"))
        assert (status, code) == (410, "link_expired") and "new one" in message
        resp = await client.post(f"/api/links/{token}/join", json={"name": "Ann"})
        assert (await error_of(resp))[:2] == (410, "link_expired")
        assert (await client.delete(f"/api/links/{token}")).status == 204
        # revoked wins over expired
        assert (await error_of(await client.get(f"/api/links/{token}")))[:2] == (410, "link_revoked")


async def test_revocation(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, _):
        token = (await (await client.post("/api/links", json={"type": "video"})).json())["token"]
        resp = await client.delete(f"/api/links/{token}")
        assert resp.status == 204 and await resp.read() == b""
        assert (await client.delete(f"/api/links/{token}")).status == 204  # idempotent
        for resp in [
            await client.get(f"/api/links/{token}"),
            await client.post(f"/api/links/{token}/join", json={"name": "Ann"}),
        ]:
            assert (await error_of(resp))[:2] == (410, "link_revoked")


@pytest.mark.parametrize(
    ("body", "field"),
    [("{}", "'name'"), ('{"name": ""}', "'name'"), ('{"name": "   "}', "'name'"),
     ('{"name": "' + "n" * 65 + '"}', "'name'"), ('{"name": 5}', "'name'"), ("nope", "JSON")],
)
async def test_join_rejects_bad_names(tmp_path: Path, body: str, field: str) -> None:
    async with running_server(tmp_path) as (client, _):
        token = (await (await client.post("/api/links", json={"type": "video"})).json())["token"]
        resp = await client.post(f"/api/links/{token}/join", data=body, headers={"Content-Type": "application/json"})
        status, code, message = await error_of(resp)
        assert (status, code) == (400, "bad_request") and field in message


async def test_join_grant_and_tickets(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, config):
        token = (await (await client.post("/api/links", json={"type": "video"})).json())["token"]
        resp = await client.post(f"/api/links/{token}/join", json={"name": "Ann"})
        assert resp.status == 200
        grant = await resp.json()
        assert set(grant) == {"participant_id", "ws_url", "type", "ice_servers", "e2ee"}
        assert grant["type"] == "video" and grant["ice_servers"] == []
        assert grant["ws_url"].startswith(f"ws://127.0.0.1:{config.port}/ws/")
        ticket_path = grant["ws_url"].split(str(config.port), 1)[1]

        # a bad ticket is refused before the upgrade, as JSON
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/ws/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        assert refused.value.status == 403
        # a plain GET (no upgrade) is told so and leaves the ticket unused
        status, code, message = await error_of(await client.get(ticket_path))
        assert (status, code) == (400, "bad_request") and "WebSocket" in message
        # the good one upgrades once, then is used up
        ws = await client.ws_connect(ticket_path)
        welcome = await ws.receive_json(timeout=5)
        assert welcome["type"] == "welcome" and welcome["participant_id"] == grant["participant_id"]
        assert welcome["call"] == {"type": "video", "title": "", "e2ee": False} and welcome["participants"] == []
        shown = await (await client.get(f"/api/links/{token}")).json()
        assert shown["participants"] == 1
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(ticket_path)
        assert refused.value.status == 403
        await ws.send_json({"type": "leave"})
        await ws.close()
        for _ in range(50):
            if (await (await client.get(f"/api/links/{token}")).json())["participants"] == 0:
                break
            await asyncio.sleep(0.05)
        assert (await (await client.get(f"/api/links/{token}")).json())["participants"] == 0


async def test_expired_ticket_is_refused(tmp_path: Path) -> None:
    clock = FakeClock()
    async with running_server(tmp_path, clock) as (client, config):
        token = (await (await client.post("/api/links", json={"type": "audio"})).json())["token"]
        grant = await (await client.post(f"/api/links/{token}/join", json={"name": "Ann"})).json()
        clock.advance(30)
        path = grant["ws_url"].split(str(config.port), 1)[1]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(path)
        assert refused.value.status == 403


async def test_100_concurrent_joins_hold_32_seats(tmp_path: Path) -> None:
    clock = FakeClock()
    async with running_server(tmp_path, clock) as (client, _):
        token = (await (await client.post("/api/links", json={"type": "video"})).json())["token"]

        async def join(i: int) -> int:
            resp = await client.post(f"/api/links/{token}/join", json={"name": f"guest {i}"})
            if resp.status == 409:
                assert (await error_of(resp))[1] == "call_full"
            return resp.status

        statuses = await asyncio.gather(*(join(i) for i in range(100)))
        assert statuses.count(200) == 32 and statuses.count(409) == 68
        # unused tickets hold nobody in the call, and free their seats once expired
        assert (await (await client.get(f"/api/links/{token}")).json())["participants"] == 0
        clock.advance(29)
        assert await join(100) == 409
        clock.advance(1.5)
        statuses = await asyncio.gather(*(join(i) for i in range(40)))
        assert statuses.count(200) == 32 and statuses.count(409) == 8


async def test_max_participants_setting(tmp_path: Path) -> None:
    async with running_server(tmp_path, max_participants=2) as (client, _):
        link = await (await client.post("/api/links", json={"type": "audio"})).json()
        assert link["max_participants"] == 2
        token = link["token"]
        statuses = [(await client.post(f"/api/links/{token}/join", json={"name": "x"})).status for _ in range(3)]
        assert statuses == [200, 200, 409]


async def test_restart_keeps_links_revocations_and_expiry(tmp_path: Path) -> None:
    clock = FakeClock()
    async with running_server(tmp_path, clock, link_ttl=100) as (client, _):
        live = await (await client.post("/api/links", json={"type": "video", "title": "kept"})).json()
        revoked = (await (await client.post("/api/links", json={"type": "audio"})).json())["token"]
        await client.delete(f"/api/links/{revoked}")
    async with running_server(tmp_path, clock, link_ttl=100) as (client, _):
        shown = await (await client.get(f"/api/links/{live['token']}")).json()
        assert (shown["title"], shown["expires_at"]) == ("kept", live["expires_at"])
        assert (await error_of(await client.get(f"/api/links/{revoked}")))[:2] == (410, "link_revoked")
        clock.advance(100)
    async with running_server(tmp_path, clock, link_ttl=100) as (client, _):
        assert (await error_of(await client.get(f"/api/links/{live['token']}")))[:2] == (410, "link_expired")


async def test_store_keeps_no_token_in_clear(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, config):
        token = (await (await client.post("/api/links", json={"type": "video"})).json())["token"]
        grant = await (await client.post(f"/api/links/{token}/join", json={"name": "Ann"})).json()
        ticket = grant["ws_url"].rsplit("/", 1)[1]
    files = list(tmp_path.glob("callsfu.sqlite3*"))
    assert files, "the SQLite store should live in --data-dir"
    blob = b"".join(f.read_bytes() for f in files)
    assert len(blob) > 0
    assert token.encode() not in blob and ticket.encode() not in blob
    import hashlib

    assert hashlib.sha256(token.encode()).hexdigest().encode() in blob  # it is the hash that is kept
