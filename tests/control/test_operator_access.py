"""/metrics, /stats and /api/stats: the access rule of link management, and a token never in a label."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import running_server

OPERATOR = ("/metrics", "/api/stats")


async def test_with_an_api_key_the_operator_endpoints_need_it(tmp_path: Path) -> None:
    async with running_server(tmp_path, api_key="s3cret") as (client, _):
        for path in OPERATOR:
            resp = await client.get(path)
            assert resp.status == 401, path
            assert (await resp.json())["error"]["code"] == "unauthorized"
            assert (await client.get(path, headers={"Authorization": "Bearer nope"})).status == 403
            assert (await client.get(path, headers={"Authorization": "Bearer s3cret"})).status == 200
        # the page holds no data: served, and it asks for the key its script sends to /api/stats
        page = await client.get("/stats")
        assert page.status == 200 and page.content_type == "text/html"
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert '<script src="/static/stats.js">' in await page.text()


async def test_without_a_key_only_requests_addressed_to_this_machine(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, _):
        for path in (*OPERATOR, "/stats"):
            assert (await client.get(path)).status == 200, path
            rebound = await client.get(path, headers={"Host": "evil.example"})  # DNS rebinding
            assert rebound.status == 403, path
            assert (await rebound.json())["error"]["code"] == "forbidden"


async def test_metrics_name_routes_by_their_pattern_never_by_a_token(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, _):
        resp = await client.post("/api/links", json={"type": "audio"})
        token = (await resp.json())["token"]
        assert (await client.get(f"/api/links/{token}")).status == 200
        assert (await client.get("/api/links/not-a-token-at-all")).status == 404
        text = await (await client.get("/metrics")).text()
    assert token not in text
    routes = {
        s.labels["route"]
        for f in text_string_to_metric_families(text)
        if f.name == "callsfu_http_request_duration_seconds"
        for s in f.samples
        if s.name.endswith("_count")
    }
    assert {"/api/links", "/api/links/{token}"} <= routes
    names = [f.name for f in text_string_to_metric_families(text)]
    assert names and all(n.startswith("callsfu_") for n in names)
