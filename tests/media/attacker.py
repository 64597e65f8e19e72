"""Tools for attack tests: a raw WebSocket client that never reads, a watch on
two honest peers' media, the server's memory, and a publish offer made by a
real aiortc peer (so the attacker's SDP is a genuine one, then bent)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiortc import RTCRtpSender

from tests.media.conftest import Server
from tests.media.peer import ColourTrack, EncodedToneTrack, Peer, new_pc


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One masked client frame (RFC 6455 5.2)."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawClient:
    """A participant on a bare TCP socket: it upgrades, then never reads again
    (a tiny receive buffer, so its TCP window fills at once)."""

    def __init__(self, ws_url: str) -> None:
        parts = urlsplit(ws_url)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        self.sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)  # byte by byte: nothing past the handshake is read
            if not chunk:
                raise ConnectionError("the server closed the socket during the upgrade")
            head += chunk
        self.status = int(head.split(b" ", 2)[1])
        self.sock.setblocking(False)

    def send(self, payload: bytes, opcode: int = 0x1) -> bool:
        """Send one frame if the socket takes it; False once the server has dropped us."""
        data = frame(payload, opcode)
        try:
            sent = 0
            while sent < len(data):
                sent += self.sock.send(data[sent:])
        except BlockingIOError:
            return True  # the server reads slower than we write (it should)
        except OSError:
            return False
        return True

    def dropped(self) -> bool:
        """Has the server closed or reset the connection? (reads what is buffered)"""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except BlockingIOError:
            return False
        except OSError:
            return True

    def close(self) -> None:
        self.sock.close()


async def raw_join(http: aiohttp.ClientSession, server: Server, token: str, name: str) -> tuple[str, RawClient]:
    async with http.post(f"{server.url}/api/links/{token}/join", json={"name": name}) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    client = await asyncio.get_running_loop().run_in_executor(None, RawClient, body["ws_url"])
    assert client.status == 101
    return body["participant_id"], client


async def publish_offer() -> str:
    """A real aiortc publish offer (audio + video, candidates gathered)."""
    pc = new_pc()
    try:
        t = pc.addTransceiver(EncodedToneTrack(440.0), direction="sendonly")
        t.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType == "audio/opus"])
        t = pc.addTransceiver(ColourTrack((1, 2, 3)), direction="sendonly")
        t.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in ("video/VP8", "video/rtx")])
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


def publish_message(sdp: str) -> bytes:
    return json.dumps({"type": "publish", "sdp": sdp}).encode()


class MediaWatch:
    """Samples what two (or more) honest peers decode from each other and keeps
    the longest gap with no new frame on any of their tracks."""

    def __init__(self, peers: list[Peer], interval: float = 0.02) -> None:
        self.peers = peers
        self.interval = interval
        self.longest = 0.0
        self.worst = ""
        self._task: asyncio.Task[None] | None = None

    def _mids(self) -> list[tuple[Peer, str]]:
        return [
            (p, mid)
            for p in self.peers
            for q in self.peers
            if q is not p
            for kind in ("audio", "video")
            for mid in p.mids_of(q.participant_id, kind)
        ]

    async def _run(self) -> None:
        last: dict[tuple[int, str], tuple[int, float]] = {}
        while True:
            now = time.monotonic()
            for p, mid in self._mids():
                rec = p.received.get(mid)
                frames = rec.frames if rec else 0
                key = (id(p), mid)
                seen = last.get(key)
                if seen is None or frames != seen[0]:
                    last[key] = (frames, now)
                elif now - seen[1] > self.longest:
                    self.longest, self.worst = now - seen[1], f"{p.name} mid {mid}"
            await asyncio.sleep(self.interval)

    def __enter__(self) -> MediaWatch:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._task is not None:
            self._task.cancel()


def rss_kib(pid: int) -> int:
    """Resident memory of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError(f"no VmRSS for process {pid}")


async def healthz_seconds(http: aiohttp.ClientSession, server: Server) -> float:
    started = time.monotonic()
    async with http.get(f"{server.url}/healthz", timeout=aiohttp.ClientTimeout(total=10)) as resp:
        assert resp.status == 200
    return time.monotonic() - started


def seats_held(server: Server) -> int:
    """Seats (connected or held by a ticket) in the server's SQLite store, all links."""
    db = sqlite3.connect(f"file:{server.log_path.parent / 'data' / 'callsfu.sqlite3'}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM seats").fetchone()[0])
    finally:
        db.close()
