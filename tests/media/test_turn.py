"""A participant who can only reach the SFU through TURN (coturn, real) joins
with the per-join credentials of ``--turn-secret``."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import aiohttp
import pytest

from tests.media.conftest import new_link
from tests.media.peer import Peer, wait_for
from tests.server import Server, free_port

SECRET = "coturn-shared-secret"


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[int]:
    binary = shutil.which("turnserver")
    assert binary, "coturn is missing: `make test` installs it (scripts/install-system-deps)"
    port = free_port()
    log = (tmp_path / "coturn.log").open("w")
    proc = subprocess.Popen(
        [binary, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={port}",
         "--min-port=40000", "--max-port=40999", "--allow-loopback-peers", "--use-auth-secret",
         f"--static-auth-secret={SECRET}", "--realm=callsfu.test", "--no-cli", "--no-tls", "--no-dtls",
         "--log-file=stdout", "--simple-log", "--pidfile=" + str(tmp_path / "turn.pid")],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    time.sleep(0.5)
    assert proc.poll() is None, (tmp_path / "coturn.log").read_text()
    yield port
    proc.terminate()
    proc.wait(5)


async def test_a_relay_only_participant_joins_through_turn(tmp_path: Path, coturn: int) -> None:
    server = Server(tmp_path / "sfu", "--ice-server", f"turn:127.0.0.1:{coturn}?transport=udp", "--turn-secret", SECRET)
    async with aiohttp.ClientSession() as http:
        token = await new_link(http, server)
        direct = Peer(http, server.url, token, "direct", 0)
        relayed = Peer(http, server.url, token, "behind a NAT", 1, relay_only=True)
        try:
            await direct.join()
            await relayed.join()
            assert await wait_for(lambda: relayed.sees(direct) and relayed.hears(direct), 20)
            assert await wait_for(lambda: direct.sees(relayed) and direct.hears(relayed), 20)
            for pc in (relayed.publish_pc, relayed.subscribe_pc):
                assert pc is not None
                candidates = [line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate")]
                assert candidates and all(" typ relay" in c for c in candidates), candidates
        finally:
            await asyncio.gather(direct.leave(), relayed.leave(), return_exceptions=True)
            server.stop()
