"""Webhook delivery against a real local HTTP receiver: signatures the reference
library accepts, retries with backoff in order, a bounded queue."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks.webhooks import Webhook

from control.webhooks import Webhooks, sign, signing_key

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def test_the_signature_is_the_reference_librarys() -> None:
    body = b'{"type": "link.created"}'
    ours = sign(signing_key(SECRET), "msg_1", 1_800_000_000, body)
    from datetime import datetime, timezone

    theirs = Webhook(SECRET).sign("msg_1", datetime.fromtimestamp(1_800_000_000, tz=timezone.utc), body.decode())
    assert ours == theirs


@pytest.mark.parametrize("bad", ["whsec_not base64!", "whsec_", "whsec_c2hvcnQ="])
def test_a_bad_secret_is_refused_with_the_reason(bad: str) -> None:
    with pytest.raises(ValueError, match="--webhook-secret"):
        signing_key(bad)


def test_a_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="--webhook-url"):
        Webhooks(["ftp://example.org/x"], None)


async def test_failed_deliveries_are_retried_in_order_with_the_same_id() -> None:
    got: list[tuple[str, dict[str, Any]]] = []
    failures = {"left": 3}
    verifier = Webhook(SECRET)

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        if failures["left"] > 0:
            failures["left"] -= 1
            return web.Response(status=503)
        got.append((request.headers["webhook-id"], verifier.verify(body, dict(request.headers))))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    outcomes: list[str] = []
    hooks = Webhooks([str(server.make_url("/hook"))], SECRET, count=outcomes.append, backoff=0.01)
    hooks.start()
    try:
        for i in range(3):
            hooks.emit("participant.joined", {"link_id": "l", "participant_id": f"p_{i}", "name": str(i)})
        for _ in range(200):
            if len(got) == 3:
                break
            await asyncio.sleep(0.02)
    finally:
        await hooks.close()
        await server.close()
    assert [e["data"]["participant_id"] for _, e in got] == ["p_0", "p_1", "p_2"]
    assert len({msg_id for msg_id, _ in got}) == 3
    assert outcomes.count("failed") == 3 and outcomes.count("delivered") == 3


async def test_a_full_queue_drops_the_oldest_and_emit_never_waits() -> None:
    outcomes: list[str] = []
    hooks = Webhooks(["http://127.0.0.1:9/hook"], SECRET, count=outcomes.append, queue_limit=3, attempts=1)
    # not started: nothing delivers, the queue only fills
    for i in range(5):
        hooks.emit("call.started", {"link_id": str(i)})
    queue = hooks.endpoints[0].queue
    assert [json.loads(e.body)["data"]["link_id"] for e in queue] == ["2", "3", "4"]
    assert outcomes == ["dropped", "dropped"]
    with pytest.raises(ValueError, match="unknown webhook event"):
        hooks.emit("call.exploded", {})


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--webhook-url", "ftp://example.org/hook"], "--webhook-url must be an http:// or https:// URL"),
        (["--webhook-secret-file", "{secret}"], "--webhook-secret must be 'whsec_' followed by base64"),
        (["--log-format", "xml"], "--log-format must be one of text, json"),
    ],
)
def test_bad_settings_stop_the_server_with_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    from control.cli import main

    secret = tmp_path / "secret"
    secret.write_text("not a whsec secret!")
    args = [a.format(secret=secret) for a in argv]
    assert main(["serve", "--data-dir", str(tmp_path / "data"), *args]) == 2
    assert message in capsys.readouterr().err
