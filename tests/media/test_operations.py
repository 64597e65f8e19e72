"""What an operator gets from a running call: /metrics, webhooks, /api/stats, logs.

One server for the module, with real aiortc peers, a webhook receiver that
verifies signatures with the reference library, and ``--log-format json``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.media.conftest import Server, new_link
from tests.media.peer import Peer, wait_for
from tests.webhook_receiver import Receiver, dumps

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver(SECRET)
    yield r
    r.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("ops")
    secret_file = tmp / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    srv = Server(tmp, "--webhook-url", receiver.url, "--webhook-secret-file", str(secret_file), "--log-format", "json", "--log-level", "debug")
    yield srv
    srv.stop()


async def scrape(http: aiohttp.ClientSession, server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with http.get(f"{server.url}/metrics") as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("callsfu_"), family.name
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def link_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def test_metrics_move_during_a_call_and_webhooks_tell_its_life_in_order(
    server: Server, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    before = await scrape(http, server)
    token = await new_link(http, server)
    peers = [Peer(http, server.url, token, "Ann", 0), Peer(http, server.url, token, "Bob", 1, drop_every=15)]
    try:
        for p in peers:
            await p.join()
        assert await wait_for(lambda: all(a.sees(b) and a.hears(b) for a in peers for b in peers if a is not b), 15)
        during = await scrape(http, server)
        assert value(during, "callsfu_calls") == 1
        assert value(during, "callsfu_participants") == 2
        for kind in ("audio", "video"):
            for name in ("callsfu_forwarded_packets_total", "callsfu_forwarded_bytes_total", "callsfu_received_packets_total"):
                assert value(during, name, kind=kind) > value(before, name, kind=kind), (name, kind)
        # bytes received are added up at each receiver report to the publisher (every 0.5-1 s)
        for _ in range(20):
            if value(during, "callsfu_received_bytes_total") > value(before, "callsfu_received_bytes_total"):
                break
            await asyncio.sleep(0.25)
            during = await scrape(http, server)
        assert value(during, "callsfu_received_bytes_total") > value(before, "callsfu_received_bytes_total")
        # Bob loses every 15th packet: he NACKs, the SFU retransmits, and asks for keyframes as people join
        assert await wait_for(lambda: peers[1].rtx_received > 0, 10)
        later = await scrape(http, server)
        assert value(later, "callsfu_rtx_packets_total", kind="video") > value(before, "callsfu_rtx_packets_total", kind="video")
        assert value(later, "callsfu_keyframe_requests_total") > value(before, "callsfu_keyframe_requests_total")
        assert value(later, "callsfu_join_seconds_count") >= value(before, "callsfu_join_seconds_count") + 2
        # receivers' reports: Bob's loss shows in the loss histogram (every stream received is one observation)
        for _ in range(30):
            later = await scrape(http, server)
            if value(later, "callsfu_receiver_loss_ratio_count") >= 4 and value(later, "callsfu_receiver_loss_ratio_bucket", le="0.0") < value(later, "callsfu_receiver_loss_ratio_count"):
                break
            await asyncio.sleep(0.5)
        assert value(later, "callsfu_receiver_loss_ratio_count") >= 4, later
        assert value(later, "callsfu_receiver_loss_ratio_bucket", le="0.0") < value(later, "callsfu_receiver_loss_ratio_count")
        assert value(later, "callsfu_receiver_jitter_seconds_count") >= 4
        assert value(later, "callsfu_worker_cpu_seconds_total", worker="0") > 0
        joins = value(later, "callsfu_http_request_duration_seconds_count", method="POST", route="/api/links/{token}/join", status="200")
        assert joins >= 2
        # the operator's JSON: both participants, with what they send and receive
        # (bitrate_in is over the SFU's last report interval to the publisher: look a few times)
        for _ in range(10):
            async with http.get(f"{server.url}/api/stats") as resp:
                assert resp.status == 200
                stats = await resp.json()
            (call,) = [c for c in stats["calls"] if c["participants"]]
            people = {p["name"]: p for p in call["participants"]}
            if people.get("Ann", {}).get("bitrate_in"):
                break
            await asyncio.sleep(0.5)
        assert set(people) == {"Ann", "Bob"}
        assert {(r["participant_id"], r["kind"]) for r in people["Ann"]["receives"]} == {(peers[1].participant_id, "audio"), (peers[1].participant_id, "video")}
        assert people["Ann"]["bitrate_in"] > 0 and people["Ann"]["publishes"] == ["audio", "video"]
    finally:
        await asyncio.gather(*(p.leave() for p in peers), return_exceptions=True)
    ended = lambda: [e for e in receiver.of(link_id(token)) if e["type"] == "call.ended"]  # noqa: E731
    assert await wait_for(ended, 10), dumps(receiver.of(link_id(token)))
    async with http.delete(f"{server.url}/api/links/{token}") as resp:
        assert resp.status == 204
    ann, bob = peers[0].participant_id, peers[1].participant_id
    expected_types = ["link.created", "call.started", "participant.joined", "participant.joined", "participant.left", "participant.left", "call.ended", "link.revoked"]
    assert await wait_for(lambda: len(receiver.of(link_id(token))) >= len(expected_types), 10), dumps(receiver.of(link_id(token)))
    events = receiver.of(link_id(token))
    assert [e["type"] for e in events] == expected_types, dumps(events)
    assert receiver.refused == []
    assert [e["data"].get("participant_id") for e in events[2:4]] == [ann, bob]
    assert {e["data"]["participant_id"] for e in events[4:6]} == {ann, bob}
    assert events[0]["data"]["type"] == "video" and events[0]["data"]["e2ee"] is False
    assert events[6]["data"]["reason"] == "empty" and events[6]["data"]["duration"] > 0
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    assert len(set(receiver.ids)) == len(receiver.ids)  # one id per event
    # nothing in the webhooks or the logs carries the link's token or a join ticket
    assert token not in dumps(receiver.events)
    log = server.log()
    assert token not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert lines, log[-2000:]
    assert re.search(r"/ws/[A-Za-z0-9_-]{16}", log) is None  # no join ticket either
    media = [entry for entry in lines if entry["logger"].startswith("callsfu.sfu")]
    node_lines = ("SFU media on UDP port", "UDP port")  # the process's own, no participant's
    unnamed = [e for e in media if not e.get("participant_id") and not e["message"].startswith(node_lines)]
    assert media and unnamed == [], unnamed
    assert {e.get("participant_id") for e in media} >= {ann, bob}
    # and the right one: each has two connections (publish, subscribe), each logs its DTLS once,
    # though one's subscribe connection is set going by the other's join
    dtls = [e["participant_id"] for e in media if e["message"].startswith("DTLS up")]
    assert sorted(dtls) == sorted([ann, ann, bob, bob]), dtls


async def test_a_webhook_receiver_that_hangs_does_not_hold_joins(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """Every delivery to it waits forever; meanwhile three people join and see each other."""
    stuck = Receiver(SECRET, hang=True)
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(SECRET)
    # (set through the environment this time: CALLSFU_<FLAG>)
    srv = Server(tmp_path, env={"CALLSFU_WEBHOOK_URL": stuck.url, "CALLSFU_WEBHOOK_SECRET_FILE": str(secret_file)})
    try:
        token = await new_link(http, srv)
        peers = [Peer(http, srv.url, token, f"p{i}", i) for i in range(3)]
        for p in peers:
            await p.join()
        assert await wait_for(lambda: all(a.sees(b) for a in peers for b in peers if a is not b), 15)
        assert stuck.requests == 1 and stuck.events == []  # the first delivery (link.created) still hangs
        samples = await scrape(http, srv)
        assert value(samples, "callsfu_webhook_deliveries_total", outcome="delivered") == 0
        assert value(samples, "callsfu_participants") == 3
        await asyncio.gather(*(p.leave() for p in peers), return_exceptions=True)
    finally:
        srv.stop()
        stuck.close()
