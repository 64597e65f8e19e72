"""Issue 9, NACK amplification: a participant flooding huge NACKs harms nobody.

The attacker is a real aiortc participant; through its own subscribe
connection (SRTCP, as real feedback) it sends RTCP NACKs of 368 FCIs, each
with BLP 0xFFFF, over the range of sequence numbers it has received — one
1.5 KB packet naming 6,256 packets — many times over. The honest two keep
seeing each other without a stall, the server keeps answering and its memory
stays bounded, and what the attacker gets back is bounded by the RTX budget.
"""

from __future__ import annotations

import asyncio
import struct
import time
from pathlib import Path
from typing import Any

import aiohttp
from pylibsrtp._binding import ffi

from tests.media.conftest import Server, new_link
from tests.media.peer import Peer, wait_for

NACKS = 100  # rounds, one every 50 ms: 5 s of attack
import os
FCIS = int(os.environ.get("FCIS", 367))  # 1,480 bytes: the most that fits one 1,500-byte SRTCP datagram with AES-GCM
MAX_STALL = 1.0  # seconds without a decoded frame of the other honest participant
MAX_RSS_GROWTH = 64 << 20
MAX_AMPLIFICATION = 16.0  # RTX bytes received per NACK byte sent


def huge_nack(sender_ssrc: int, media_ssrc: int, first: int, last: int) -> bytes:
    """An RTCP generic NACK (RFC 4585) of FCIS entries, each naming 17 packets,
    cycling over the sequence numbers first..last."""
    span = max(1, ((last - first) & 0xFFFF) - 16)
    fci = b"".join(struct.pack("!HH", (first + (17 * i) % span) & 0xFFFF, 0xFFFF) for i in range(FCIS))
    header = struct.pack("!BBHII", 0x81, 205, (8 + len(fci)) // 4, sender_ssrc, media_ssrc)
    return header + fci


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


class Tally:
    """What the attacker's subscribe connection receives, counted on arrival."""

    def __init__(self, peer: Peer) -> None:
        assert peer.subscribe_pc is not None
        self.peer = peer
        self.rtx_bytes = 0
        self.rtx_packets = 0
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        dtls = peer.subscribe_pc.getTransceivers()[0].receiver.transport
        original = dtls._handle_rtp_data

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            if len(data) >= 12:
                ssrc, seq = int.from_bytes(data[8:12], "big"), int.from_bytes(data[2:4], "big")
                if ssrc in peer.rtx_ssrcs:
                    self.rtx_bytes += len(data)
                    self.rtx_packets += 1
                else:
                    self.first.setdefault(ssrc, seq)
                    self.last[ssrc] = seq
            await original(data, arrival_time_ms)

        dtls._handle_rtp_data = handle_rtp_data
        self.dtls = dtls
        # pylibsrtp protects at most 1,352 bytes; a raw sender is not so kind:
        # give the attacker's own SRTP session room for a 1,484-byte NACK
        dtls._tx_srtp._cdata = ffi.new("char[]", 2048)
        dtls._tx_srtp._buffer = ffi.buffer(dtls._tx_srtp._cdata)

    def video_ssrcs(self) -> list[int]:
        kinds: dict[int, str] = self.peer._kind_of_ssrc
        return [s for s in self.last if kinds.get(s) == "video" and s not in self.peer.rtx_ssrcs]


async def watch_stalls(a: Peer, b: Peer, stop: asyncio.Event) -> float:
    """The longest time ``a`` went without a new decoded frame of ``b``'s video."""
    mid = a.mids_of(b.participant_id, "video")[0]
    rec = a.received[mid]
    frames, changed, worst = rec.frames, time.monotonic(), 0.0
    while not stop.is_set():
        await asyncio.sleep(0.02)
        now = time.monotonic()
        if rec.frames != frames:
            frames, changed = rec.frames, now
        worst = max(worst, now - changed)
    return worst


async def watch_health(http: aiohttp.ClientSession, server: Server, stop: asyncio.Event) -> list[Any]:
    """/healthz every 0.2 s, each allowed 2 s: failures and timeouts are collected."""
    failures: list[Any] = []
    while not stop.is_set():
        try:
            async with http.get(f"{server.url}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                if resp.status != 200:
                    failures.append(resp.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            failures.append(repr(exc))
        await asyncio.sleep(0.2)
    return failures


async def test_a_nack_flood_is_bounded_and_harms_nobody(server: Server, http: aiohttp.ClientSession) -> None:
    token = await new_link(http, server)
    # textured video: full-size packets, as from a camera
    a, b = (Peer(http, server.url, token, name, i, textured=True) for i, name in enumerate("ab"))
    attacker = Peer(http, server.url, token, "attacker", 2, video=False, audio=False, decode=False)
    peers = [a, b, attacker]
    try:
        for p in peers:
            await p.join()
        assert await wait_for(lambda: a.sees(b) and b.sees(a), 15)
        assert await wait_for(lambda: attacker.subscribe_pc is not None, 5)
        tally = Tally(attacker)
        assert await wait_for(lambda: len(tally.video_ssrcs()) == 2 and all(
            ((tally.last[s] - tally.first[s]) & 0xFFFF) >= 40 for s in tally.video_ssrcs()), 15)
        rss_before = rss(server.proc.pid)
        stop = asyncio.Event()
        watchers = [asyncio.create_task(watch_stalls(x, y, stop)) for x, y in ((a, b), (b, a))]
        health = asyncio.create_task(watch_health(http, server, stop))
        nack_bytes, rss_peak = 0, rss_before
        for i in range(NACKS):
            for ssrc in tally.video_ssrcs():
                nack = huge_nack(0x5EED, ssrc, tally.first[ssrc], tally.last[ssrc])
                await tally.dtls._send_rtp(nack)  # SRTCP-protected, like real feedback
                nack_bytes += len(nack)
            await asyncio.sleep(0.05)
            if i % 10 == 0:
                rss_peak = max(rss_peak, rss(server.proc.pid))
        await asyncio.sleep(1.0)  # what is still queued for the attacker arrives
        stop.set()
        stalls = await asyncio.gather(*watchers)
        failures = await health
        rss_peak = max(rss_peak, rss(server.proc.pid))
        factor = tally.rtx_bytes / nack_bytes
        print(
            f"NACK flood: {nack_bytes} NACK bytes sent, {tally.rtx_packets} RTX packets / "
            f"{tally.rtx_bytes} bytes received: amplification {factor:.2f}; "
            f"longest honest stall {max(stalls):.2f} s; RSS {rss_before >> 20} -> {rss_peak >> 20} MiB"
        )
        assert failures == [], failures
        assert max(stalls) <= MAX_STALL, stalls
        assert rss_peak - rss_before <= MAX_RSS_GROWTH, (rss_before, rss_peak)
        assert tally.rtx_packets > 0  # the NACKs did reach the server and were answered, within bounds
        assert factor <= MAX_AMPLIFICATION, factor
        assert a.sees(b) and b.sees(a) and a.hears(b) and b.hears(a)
        assert server.proc.poll() is None
    finally:
        await asyncio.gather(*(p.leave() for p in peers), return_exceptions=True)
