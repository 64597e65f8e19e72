"""Who may manage links, and the OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from control.auth import check_manage, is_loopback
from control.errors import ApiError
from tests.helpers import running_server


async def test_api_key_is_required_when_set(tmp_path: Path) -> None:
    async with running_server(tmp_path, api_key="s3cret") as (client, _):
        resp = await client.post("/api/links", json={"type": "video"})
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "unauthorized"
        assert resp.headers.get("WWW-Authenticate") == "Bearer"
        resp = await client.post("/api/links", json={"type": "video"}, headers={"Authorization": "Bearer nope"})
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "forbidden"
        resp = await client.post("/api/links", json={"type": "video"}, headers={"Authorization": "Basic s3cret"})
        assert resp.status == 401
        resp = await client.post("/api/links", json={"type": "video"}, headers={"Authorization": "Bearer s3cret"})
        assert resp.status == 201
        token = (await resp.json())["token"]
        # resolving and joining need no key: the link is the credential
        assert (await client.get(f"/api/links/{token}")).status == 200
        assert (await client.post(f"/api/links/{token}/join", json={"name": "Ann"})).status == 200
        assert (await client.delete(f"/api/links/{token}")).status == 401
        resp = await client.delete(f"/api/links/{token}", headers={"Authorization": "Bearer s3cret"})
        assert resp.status == 204


@pytest.mark.parametrize("remote", ["127.0.0.1", "127.8.9.1", "::1"])
def test_loopback_may_manage_without_key(remote: str) -> None:
    assert is_loopback(remote)
    check_manage(remote, None, None)


@pytest.mark.parametrize("remote", ["10.0.0.7", "192.168.1.20", "2001:db8::1", "", None, "not-an-ip"])
def test_others_may_not_manage_without_key(remote: str | None) -> None:
    with pytest.raises(ApiError) as info:
        check_manage(remote, None, None)
    assert info.value.code == "forbidden" and "--api-key" in info.value.message


def test_key_rules_apply_to_every_caller() -> None:
    check_manage("10.0.0.7", "Bearer k", "k")
    for header, code in [(None, "unauthorized"), ("Bearer", "unauthorized"), ("Bearer x", "forbidden")]:
        with pytest.raises(ApiError) as info:
            check_manage("127.0.0.1", header, "k")
        assert info.value.code == code


async def test_openapi_document_is_valid_and_complete(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, _):
        resp = await client.get("/api/openapi.json")
        assert resp.status == 200
        doc = await resp.json()
        routes = {
            (r.method, r.resource.canonical)
            for r in client.app.router.routes()
            if r.resource is not None and r.resource.canonical.startswith(("/api", "/healthz", "/whip/", "/whep/"))
            and r.method != "HEAD"
        }
    validate(doc)
    documented = {
        (method.upper(), path) for path, item in doc["paths"].items() for method in item if method != "parameters"
    }
    assert {(m, p.replace("{token}", "{token}")) for m, p in routes} == documented
    codes = set(doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"])
    protocol_codes = {"bad_request", "unauthorized", "forbidden", "link_not_found", "call_full",
                      "link_expired", "link_revoked", "rate_limited", "not_found", "unsupported_media_type"}
    assert protocol_codes <= codes
    assert json.loads(Path("control/openapi.json").read_text()) == doc
