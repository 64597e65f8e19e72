"""Issue 9, HTTP: what a cross-site page, a DNS-rebinding page or a hostile
script can send to the control API, and the precise answers it gets."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import running_server


async def error_of(resp) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    body = await resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"].endswith("."), body
    return resp.status, body["error"]["code"], body["error"]["message"]


def links_in_store(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "callsfu.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM links").fetchone()[0])


# -- 1. Content-Type -------------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "application/jsonp", "text/json"],
)
async def test_a_body_that_is_not_declared_json_is_refused_with_415(tmp_path: Path, content_type: str | None) -> None:
    async with running_server(tmp_path) as (client, _):
        headers = {"Content-Type": content_type} if content_type else {}
        before = links_in_store(tmp_path)
        resp = await client.post("/api/links", data=b'{"type": "video"}', headers=headers, skip_auto_headers=["Content-Type"])
        status, code, message = await error_of(resp)
        assert (status, code) == (415, "unsupported_media_type")
        assert "Content-Type: application/json" in message
        assert links_in_store(tmp_path) == before  # the cross-site "simple" POST created nothing

        link = await (await client.post("/api/links", json={"type": "video"})).json()
        resp = await client.post(f"/api/links/{link['token']}/join", data=b'{"name": "Ann"}', headers=headers, skip_auto_headers=["Content-Type"])
        assert (await error_of(resp))[:2] == (415, "unsupported_media_type")
        shown = await (await client.get(f"/api/links/{link['token']}")).json()
        assert shown["participants"] == 0


async def test_json_with_a_charset_parameter_is_fine(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, _):
        resp = await client.post("/api/links", data=b'{"type": "audio"}', headers={"Content-Type": "application/json; charset=utf-8"})
        assert resp.status == 201


# -- 4. depth, numbers, sizes --------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[" * 16000, "nests arrays and objects 16000 levels deep; at most 16"),
        ('{"type": "video", "x": ' + "[" * 5000 + "]" * 5000 + "}", "5001 levels deep"),
        ('{"type": "video", "n": ' + "9" * 5000 + "}", "a number of 5000 characters; at most 32"),
        ('{"type": "video", "n": -' + "9" * 5000 + "}", "a number of 5001 characters"),
        ('{"type": "video", "n": 1.' + "5" * 4000 + "}", "a number of 4002 characters"),
        ('{"type": "video", "n": NaN}', "NaN is not a JSON value"),
        ('{"type": "video", "n": -Infinity}', "-Infinity is not a JSON value"),
        ('{"type": "video", "title": "' + "\\ud800" + '"}', "U+D800 at position 0"),
        (b'{"type": "\xff"}', "UTF-8"),
        ("", "not valid JSON (it goes wrong at character 1, line 1 column 1)."),
        ('{"type": "video"', "not valid JSON (it goes wrong at character 17, line 1 column 17)."),
        ('{"type":\n "video",}', "line 2 column 10"),
    ],
)
async def test_hostile_json_gets_a_precise_400(tmp_path: Path, body: str | bytes, expected: str) -> None:
    async with running_server(tmp_path) as (client, _):
        resp = await client.post("/api/links", data=body, headers={"Content-Type": "application/json"})
        status, code, message = await error_of(resp)
        assert (status, code) == (400, "bad_request"), message
        assert expected in message
        link = await (await client.post("/api/links", json={"type": "video"})).json()
        resp = await client.post(f"/api/links/{link['token']}/join", data=body, headers={"Content-Type": "application/json"})
        assert (await error_of(resp))[:2] == (400, "bad_request")


async def test_nesting_up_to_the_limit_is_parsed_and_brackets_in_strings_do_not_count(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, _):
        body = '{"type": "video", "x": ' + "[" * 15 + "]" * 15 + "}"  # 16 levels: parsed, then judged
        resp = await client.post("/api/links", data=body, headers={"Content-Type": "application/json"})
        status, code, message = await error_of(resp)
        assert (status, code) == (400, "bad_request")
        assert "The field 'x' is not known here; this body takes 'type', 'title' and 'e2ee'." == message
        body = '{"type": "video", "title": "[[[[{{{{' + "[" * 80 + '"}'
        resp = await client.post("/api/links", data=body, headers={"Content-Type": "application/json"})
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["title"] == "[[[[{{{{" + "[" * 80


async def test_unknown_fields_are_refused_by_name(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, _):
        resp = await client.post("/api/links", json={"type": "video", "e2e": True})
        assert (await error_of(resp))[2] == "The field 'e2e' is not known here; this body takes 'type', 'title' and 'e2ee'."
        token = (await (await client.post("/api/links", json={"type": "video"})).json())["token"]
        resp = await client.post(f"/api/links/{token}/join", json={"name": "Ann", "\u202e" * 50: 1})
        status, code, message = await error_of(resp)
        assert (status, code) == (400, "bad_request") and "this body takes 'name'" in message and "…" in message


@pytest.mark.parametrize("size", [16 * 1024 + 1, 200_000, 5_000_000])
async def test_huge_bodies_get_a_400_naming_the_limit(tmp_path: Path, size: int) -> None:
    async with running_server(tmp_path) as (client, _):
        body = b'{"type": "video", "title": "' + b"x" * size + b'"}'
        resp = await client.post("/api/links", data=body, headers={"Content-Type": "application/json"})
        status, code, message = await error_of(resp)
        assert (status, code) == (400, "bad_request")
        assert f"{len(body)} bytes; at most 16384" in message


async def test_a_huge_chunked_body_without_length_gets_a_400(tmp_path: Path) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"type": "video", "title": "'
        for _ in range(100):
            yield b"x" * 10_000
        yield b'"}'

    async with running_server(tmp_path) as (client, _):
        resp = await client.post("/api/links", data=chunks(), headers={"Content-Type": "application/json"})
        status, code, message = await error_of(resp)
        assert (status, code) == (400, "bad_request") and "larger than 16384 bytes" in message


# -- 5. names and titles -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "code_point"),
    [
        ("Ann\u202eevil", "U+202E at position 3"),  # right-to-left override
        ("\u2066Bob", "U+2066 at position 0"),  # left-to-right isolate
        ("Ann\u200f", "U+200F"),  # right-to-left mark
        ("A\u200bnn", "U+200B at position 1"),  # zero-width space
        ("\ufeffAnn", "U+FEFF"),  # BOM / zero-width no-break space
        ("Ann\u2060", "U+2060"),  # word joiner
        ("\u3164", "U+3164"),  # Hangul filler: an "invisible" name
        ("Ann\x00", "U+0000 at position 3"),
        ("Ann\nBob", "U+000A"),
        ("Ann\x85", "U+0085"),
        ("Ann\u2028", "U+2028"),
    ],
)
async def test_names_with_bidi_invisible_or_control_characters_are_refused(tmp_path: Path, name: str, code_point: str) -> None:
    async with running_server(tmp_path) as (client, _):
        link = await (await client.post("/api/links", json={"type": "video"})).json()
        resp = await client.post(f"/api/links/{link['token']}/join", json={"name": name})
        status, code, message = await error_of(resp)
        assert (status, code) == (400, "bad_request")
        assert "'name'" in message and code_point in message
        resp = await client.post("/api/links", json={"type": "video", "title": name})
        status, code, message = await error_of(resp)
        assert (status, code) == (400, "bad_request") and "'title'" in message and code_point in message


@pytest.mark.parametrize("name", ["👩\u200d💻 Ada", "می\u200cخواهم", "Zoë", "José Ñ", "李小龙", "  padded  "])
async def test_real_names_pass_zwj_emoji_and_zwnj_scripts_included(tmp_path: Path, name: str) -> None:
    async with running_server(tmp_path) as (client, _):
        link = await (await client.post("/api/links", json={"type": "video", "title": name})).json()
        assert link["title"] == name.strip()
        resp = await client.post(f"/api/links/{link['token']}/join", json={"name": name})
        assert resp.status == 200, await resp.text()


async def test_null_title_means_no_title_and_null_name_is_refused(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, _):
        resp = await client.post("/api/links", json={"type": "audio", "title": None})
        assert resp.status == 201 and (await resp.json())["title"] == ""
        token = (await resp.json())["token"]
        resp = await client.post(f"/api/links/{token}/join", json={"name": None})
        status, code, message = await error_of(resp)
        assert (status, code) == (400, "bad_request") and "'name' must be a string, not null" in message
        # lengths count what was sent, as the OpenAPI maxLength does
        resp = await client.post(f"/api/links/{token}/join", json={"name": "a" + " " * 64})
        assert (await error_of(resp))[:2] == (400, "bad_request")


# -- 2. Host and Origin on managing requests ----------------------------------------------
@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Host": "evil.example:8080"}, "'evil.example:8080'"),  # DNS rebinding: evil.example -> 127.0.0.1
        ({"Host": "127.0.0.1.nip.example"}, "'127.0.0.1.nip.example'"),
        ({"Host": "bad host"}, "'bad host'"),
        ({"Origin": "http://evil.example"}, "'http://evil.example'"),
        ({"Origin": "null"}, "'null'"),  # a sandboxed frame or a file:// page
        ({"Origin": "http://127.0.0.1:1"}, "'http://127.0.0.1:1'"),  # another local site
    ],
)
async def test_rebinding_and_cross_site_pages_cannot_manage_links(tmp_path: Path, headers: dict[str, str], why: str) -> None:
    async with running_server(tmp_path) as (client, _):
        link = await (await client.post("/api/links", json={"type": "video"})).json()
        before = links_in_store(tmp_path)
        resp = await client.post("/api/links", json={"type": "video"}, headers=headers)
        status, code, message = await error_of(resp)
        assert (status, code) == (403, "forbidden")
        assert why in message and "--api-key" in message
        assert links_in_store(tmp_path) == before
        resp = await client.delete(f"/api/links/{link['token']}", headers=headers)
        assert (await error_of(resp))[:2] == (403, "forbidden")
        assert (await client.get(f"/api/links/{link['token']}")).status == 200  # not revoked
        # resolving and joining are not managing: the link is the credential
        assert (await client.get(f"/api/links/{link['token']}", headers=headers)).status == 200


async def test_loopback_names_and_the_configured_hosts_may_manage(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, config):
        own = f"127.0.0.1:{config.port}"
        for headers in [
            {},
            {"Host": f"localhost:{config.port}"},
            {"Host": "LOCALHOST"},
            {"Host": "app.localhost:9"},
            {"Host": "[::1]:8080"},
            {"Host": "127.5.5.5"},
            {"Host": own, "Origin": f"http://{own}"},  # the create page itself
            {"Host": f"localhost:{config.port}", "Origin": f"http://localhost:{config.port}"},
        ]:
            resp = await client.post("/api/links", json={"type": "video"}, headers=headers)
            assert resp.status == 201, (headers, await resp.text())
    async with running_server(tmp_path, public_url="https://calls.example.org") as (client, config):
        config.public_url = "https://calls.example.org"  # behind a TLS proxy on this machine
        headers = {"Host": "calls.example.org", "Origin": "https://calls.example.org"}
        resp = await client.post("/api/links", json={"type": "video"}, headers=headers)
        assert resp.status == 201, await resp.text()
        resp = await client.post("/api/links", json={"type": "video"}, headers={"Host": "calls.example.org.evil.example"})
        assert resp.status == 403


async def test_with_an_api_key_the_key_decides_not_the_host(tmp_path: Path) -> None:
    async with running_server(tmp_path, api_key="k3y") as (client, _):
        headers = {"Host": "calls.example.net", "Origin": "https://tool.example.net", "Authorization": "Bearer k3y"}
        assert (await client.post("/api/links", json={"type": "video"}, headers=headers)).status == 201


# -- 6. the ticket survives a plain GET --------------------------------------------------
async def test_plain_get_on_the_ws_url_does_not_burn_the_ticket(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, config):
        link = await (await client.post("/api/links", json={"type": "video"})).json()
        grant = await (await client.post(f"/api/links/{link['token']}/join", json={"name": "Ann"})).json()
        path = grant["ws_url"].split(str(config.port), 1)[1]
        for method, headers in [
            ("GET", {}),
            ("HEAD", {}),
            ("GET", {"Upgrade": "websocket"}),  # no Connection: Upgrade, no key
            ("GET", {"Connection": "Upgrade", "Upgrade": "h2c"}),
            ("POST", {}),
        ]:
            resp = await client.request(method, path, headers=headers)
            assert resp.status in (400, 405), (method, headers, resp.status)
            if method == "GET":
                status, code, message = await error_of(resp)
                assert code == "bad_request" and "WebSocket client" in message
        ws = await client.ws_connect(path)
        assert (await ws.receive_json(timeout=5))["type"] == "welcome"
        await ws.close()


# -- 5. security headers on everything -----------------------------------------------------
async def test_every_response_carries_the_security_headers(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, config):
        link = await (await client.post("/api/links", json={"type": "video"})).json()
        for method, path, status in [
            ("GET", "/", 200),
            ("GET", f"/call/{link['token']}", 200),
            ("GET", "/call/%E0%A4%A", 200),
            ("GET", "/static/call.js", 200),
            ("GET", "/static/style.css", 200),
            ("GET", "/favicon.ico", 200),
            ("GET", "/healthz", 200),
            ("GET", "/api/openapi.json", 200),
            ("GET", f"/api/links/{link['token']}", 200),
            ("GET", "/api/links/nope", 404),
            ("GET", "/nothing", 404),
            ("POST", "/api/links", 415),
            ("PUT", "/api/links", 405),
            ("GET", "/ws/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 400),
        ]:
            resp = await client.request(method, path)
            assert resp.status == status, (method, path, resp.status)
            h = resp.headers
            assert h["X-Content-Type-Options"] == "nosniff", path
            assert h["Referrer-Policy"] == "no-referrer", path
            assert h["X-Frame-Options"] == "DENY", path
            csp = h["Content-Security-Policy"]
            assert "frame-ancestors 'none'" in csp, path
            assert "Strict-Transport-Security" not in h  # plain HTTP: HSTS means nothing here
            if "text/html" in h.get("Content-Type", ""):
                directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
                assert directives["default-src"] == "'none'"
                assert directives["script-src"] == "'self'"  # no inline script, no eval
                assert directives["style-src"] == "'self'"
                assert directives["connect-src"] == f"'self' ws://127.0.0.1:{config.port}"
                assert "unsafe" not in csp
            else:
                assert csp.startswith("default-src 'none'"), path


async def test_pages_reference_no_inline_script_or_style(tmp_path: Path) -> None:
    """What the CSP forbids must not be what the pages rely on."""
    import re

    async with running_server(tmp_path) as (client, _):
        for path in ["/", "/call/x"]:
            html = await (await client.get(path)).text()
            for tag in re.findall(r"<script\b[^>]*>", html):
                assert "src=" in tag, tag
            assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html), path
            assert " style=" not in html and "<style" not in html and " on" + "click=" not in html
    for js in Path("control/static").glob("*.js"):
        text = js.read_text()
        assert "eval(" not in text and "new Function" not in text and "style=" not in text, js


def test_openapi_declares_415_on_every_json_body() -> None:
    doc = json.loads(Path("control/openapi.json").read_text())
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "requestBody" in op:
                assert "415" in op["responses"], (method, path)


def test_the_documented_patterns_are_exactly_what_the_server_refuses() -> None:
    """Every BMP character, alone and inside a name/title: the OpenAPI pattern
    and the server's check give the same verdict."""
    import re

    from control.errors import ApiError
    from control.validation import NAME_PATTERN, TITLE_PATTERN, text_field

    doc = json.loads(Path("control/openapi.json").read_text())
    schemas = doc["components"]["schemas"]
    assert schemas["JoinRequest"]["properties"]["name"]["pattern"] == NAME_PATTERN
    assert schemas["LinkCreate"]["properties"]["title"]["pattern"] == TITLE_PATTERN
    # ECMA-262 (and Rust) `$` is the end of the text; Python's also matches before a final "\n"
    name_re, title_re = (re.compile(p.removesuffix("$") + r"\Z") for p in (NAME_PATTERN, TITLE_PATTERN))

    def accepted(value: str, field: str, min_len: int) -> bool:
        try:
            text_field({field: value}, field, required=True, min_len=min_len, max_len=64)
            return True
        except ApiError:
            return False

    disagreements = []
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue  # lone surrogates: refused, and no regex engine's character
        ch = chr(cp)
        for value in (ch, f"a{ch}b", f"{ch}{ch}"):
            if bool(name_re.search(value)) != accepted(value, "name", 1):
                disagreements.append(("name", hex(cp), value))
            if bool(title_re.search(value)) != accepted(value, "title", 0):
                disagreements.append(("title", hex(cp), value))
    assert not disagreements, disagreements[:20]
    assert not accepted("\ud800", "name", 1) and not accepted("a\udfff", "title", 0)


def test_page_csp_follows_the_ws_base_and_a_shared_store() -> None:
    from control.config import Config
    from control.headers import page_csp

    def connect_src(config: Config) -> str:
        return next(d for d in page_csp(config).split("; ") if d.startswith("connect-src"))

    assert connect_src(Config(public_url="https://calls.example.org")) == "connect-src 'self' wss://calls.example.org"
    assert connect_src(Config(host="::1", port=9000)) == "connect-src 'self' ws://[::1]:9000"
    # several nodes: a join may hand out another node's ws_url (its own --public-url)
    shared = Config(public_url="https://a.example.org", store="redis://127.0.0.1:6379/0")
    assert connect_src(shared) == "connect-src 'self' wss://a.example.org wss:"
