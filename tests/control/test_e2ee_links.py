"""End-to-end encrypted links at the control API: the flag is stored and
reported everywhere, joins must declare that they encrypt, and the key (which
only ever travels in a URL fragment) is never anything the server holds."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
from control.store.sqlite import SqliteStore
from tests.helpers import running_server
from tests.server import Server, http


async def error_of(resp: aiohttp.ClientResponse) -> tuple[int, str, str]:
    body = await resp.json()
    return resp.status, body["error"]["code"], body["error"]["message"]


async def test_an_e2ee_link_is_reported_as_such_and_admits_only_encrypting_clients(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, config):
        resp = await client.post("/api/links", json={"type": "video", "title": "Secret", "e2ee": True})
        assert resp.status == 201
        created = await resp.json()
        assert created["e2ee"] is True and "#" not in created["url"]
        token = created["token"]
        shown = await (await client.get(f"/api/links/{token}")).json()
        assert shown["e2ee"] is True and shown["participants"] == 0
        plain = await (await client.post("/api/links", json={"type": "audio", "e2ee": None})).json()
        assert plain["e2ee"] is False
        assert (await (await client.get(f"/api/links/{plain['token']}")).json())["e2ee"] is False

        # a client that does not say it encrypts is refused, precisely
        for body in ({"name": "Eve"}, {"name": "Eve", "e2ee": False}):
            status, code, message = await error_of(await client.post(f"/api/links/{token}/join", json=body))
            assert (status, code) == (403, "e2ee_required"), message
            assert "end-to-end encrypted" in message and "#key=" in message
        # saying so in a call that is not E2EE is refused too (the others could not decode it)
        status, code, message = await error_of(
            await client.post(f"/api/links/{plain['token']}/join", json={"name": "Ann", "e2ee": True})
        )
        assert (status, code) == (403, "call_not_e2ee") and "not end-to-end encrypted" in message
        status, code, message = await error_of(
            await client.post(f"/api/links/{token}/join", json={"name": "Ann", "e2ee": "yes"})
        )
        assert (status, code) == (400, "bad_request") and message == "The field 'e2ee' must be true or false, not a string."
        status, _, message = await error_of(await client.post("/api/links", json={"type": "video", "e2ee": 1}))
        assert status == 400 and message == "The field 'e2ee' must be true or false, not a number."

        resp = await client.post(f"/api/links/{token}/join", json={"name": "Ann", "e2ee": True})
        assert resp.status == 200
        grant = await resp.json()
        assert grant["e2ee"] is True
        ws = await client.ws_connect(grant["ws_url"].split(str(config.port), 1)[1])
        welcome = await ws.receive_json(timeout=5)
        assert welcome["call"] == {"type": "video", "title": "Secret", "e2ee": True}
        await ws.send_json({"type": "leave"})
        await ws.close()


async def test_the_openapi_document_describes_e2ee(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, _):
        doc = await (await client.get("/api/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    for name in ("LinkCreated", "Link", "JoinGrant"):
        assert "e2ee" in schemas[name]["required"], name
    assert schemas["LinkCreate"]["properties"]["e2ee"]["type"] == "boolean"
    assert "#key=" in schemas["LinkCreate"]["properties"]["e2ee"]["description"]
    assert schemas["JoinRequest"]["properties"]["e2ee"]["type"] == "boolean"
    assert {"e2ee_required", "call_not_e2ee"} <= set(schemas["Error"]["properties"]["error"]["properties"]["code"]["enum"])
    assert "403" in doc["paths"]["/api/links/{token}/join"]["post"]["responses"]


def test_a_data_dir_from_before_e2ee_opens_and_its_links_are_not_e2ee(tmp_path: Path) -> None:
    path = tmp_path / "callsfu.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE links (token_hash TEXT PRIMARY KEY, type TEXT NOT NULL, title TEXT NOT NULL,"
        " created_at REAL NOT NULL, expires_at REAL NOT NULL, max_participants INTEGER NOT NULL, revoked_at REAL);"
        "INSERT INTO links VALUES ('abc', 'video', 'Old', 1.0, 2.0, 32, NULL);"
    )
    old.commit()
    old.close()


    async def check() -> None:
        store = SqliteStore(path)
        link = await store.get_link("abc")
        assert link is not None and link.e2ee is False and link.title == "Old"
        await store.close()

    asyncio.run(check())


KEY_URL = re.compile(r"^(http://127\.0\.0\.1:\d+/call/[A-Za-z0-9_-]+)#key=([A-Za-z0-9_-]{43})$")


def test_cli_link_create_e2ee_makes_the_key_locally(tmp_path: Path) -> None:
    """The CLI prints the URL with #key=; the server got only "e2ee": true."""
    srv = Server(tmp_path / "srv")
    try:
        urls = []
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-m", "control.cli", "link", "create", "--type", "video", "--e2ee", "--server", srv.url],
                capture_output=True, text=True, timeout=30, check=True,
            ).stdout  # fmt: skip
            printed = json.loads(out)
            m = KEY_URL.match(printed["url"])
            assert m, printed["url"]
            assert printed["e2ee"] is True
            key = base64.urlsafe_b64decode(m.group(2) + "=")
            assert len(key) == 32
            token = printed["token"]
            assert m.group(1).endswith(token)
            urls.append((token, m.group(2)))
        assert urls[0][1] != urls[1][1]  # a fresh key per link
        for token, _ in urls:
            assert http("GET", f"{srv.url}/api/links/{token}")[1]["e2ee"] is True
        # the worker process hosting the call knows it is E2EE too (the front hands it the Admission)
        asyncio.run(_welcome_says_e2ee(srv, urls[0][0]))
        # the key is nowhere the server keeps things: its log and its data directory
        srv.stop()
        blobs = [srv.log().encode()] + [p.read_bytes() for p in (tmp_path / "srv" / "data").rglob("*") if p.is_file()]
        for _, key in urls:
            raw = base64.urlsafe_b64decode(key + "=")
            for blob in blobs:
                assert key.encode() not in blob and raw not in blob and raw.hex().encode() not in blob
    finally:
        srv.stop()


async def test_whip_and_whep_are_refused_by_an_e2ee_call(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, _):
        token = (await (await client.post("/api/links", json={"type": "video", "e2ee": True})).json())["token"]
        for kind, who in (("whip", "a WHIP publisher"), ("whep", "a WHEP viewer")):
            resp = await client.post(f"/{kind}/{token}", data="v=0\r\n", headers={"Content-Type": "application/sdp"})
            status, code, message = await error_of(resp)
            assert (status, code) == (403, "e2ee_required") and who in message and "#key=" in message
        shown = await (await client.get(f"/api/links/{token}")).json()
        assert shown["participants"] == 0  # no seat was taken


async def _welcome_says_e2ee(srv: Server, token: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{srv.url}/api/links/{token}/join", json={"name": "Ann", "e2ee": True}) as resp:
            grant = await resp.json()
            assert resp.status == 200 and grant["e2ee"] is True, grant
        async with session.ws_connect(grant["ws_url"]) as ws:
            welcome = await ws.receive_json(timeout=10)
            assert welcome["call"]["e2ee"] is True, welcome
            await ws.send_json({"type": "leave"})


def test_the_admission_handed_to_a_worker_keeps_e2ee() -> None:
    from sfu.admission import Admission, admission_from_header, admission_header

    for e2ee in (True, False):
        admission = Admission("p_1", "Ann", "c", "video", "T", 32, e2ee=e2ee)
        assert admission_from_header(admission_header(admission)) == admission
    legacy = json.dumps({"participant_id": "p", "name": "n", "call_id": "c", "call_type": "audio", "title": "", "max_participants": 2})
    assert admission_from_header(legacy).e2ee is False
