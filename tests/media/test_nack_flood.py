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
FAST_ROUNDS = 1500  # rounds 2 ms apart: ~1,000 NACKs a second, 1.5 MB/s
import os
FCIS = int(os.environ.get("FCIS", 367))  # 1,480 bytes: the most that fits one 1,500-byte SRTCP datagram with AES-GCM
MAX_STALL = 1.0  # seconds without a decoded frame of the other honest participant
MAX_RSS_GROWTH = 64 << 20
MAX_FLOOD_CPU = 1.0  # server CPU seconds the fast flood's 3,000 NACKs may cost (1.5-3 s unbounded)
MAX_AMPLIFICATION = 16.0  # RTX bytes received per NACK byte sent (~210 unbounded; ~2.5-5 here)
MAX_RTX_PER_MEDIA_BYTE = 1.5  # RTX bytes per media byte the attacker received meanwhile


def huge_nack(sender_ssrc: int, media_ssrc: int, first: int, last: int) -> bytes:
    """An RTCP generic NACK (RFC 4585) of FCIS entries, each naming 17 packets,
    cycling over the sequence numbers first..last."""
    span = max(1, ((last - first) & 0xFFFF) - 16)
    fci = b"".join(struct.pack("!HH", (first + (17 * i) % span) & 0xFFFF, 0xFFFF) for i in range(FCIS))
    header = struct.pack("!BBHII", 0x81, 205, (8 + len(fci)) // 4, sender_ssrc, media_ssrc)
    return header + fci


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        self.media_bytes = 0
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
                    self.media_bytes += len(data)
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


class Outcome:
    def __init__(self) -> None:
        self.nack_bytes = 0
        self.rtx_bytes = 0
        self.rtx_packets = 0
        self.media_bytes = 0  # what the attacker received meanwhile as media
        self.stall = 0.0
        self.health_failures: list[Any] = []
        self.rss_growth = 0
        self.cpu = 0.0  # seconds of the server's CPU while the NACKs were sent
        self.quiet_cpu = 0.0  # ...and for as long again afterwards, with no NACKs

    @property
    def amplification(self) -> float:
        return self.rtx_bytes / self.nack_bytes


async def flood(server: Server, http: aiohttp.ClientSession, rounds: int, interval: float) -> Outcome:
    """Two honest participants and an attacker sending ``rounds`` huge NACKs
    per video stream it receives, ``interval`` seconds apart (0: as fast as it can)."""
    token = await new_link(http, server)
    # textured video: full-size packets, as from a camera
    a, b = (Peer(http, server.url, token, name, i, textured=True) for i, name in enumerate("ab"))
    attacker = Peer(http, server.url, token, "attacker", 2, video=False, audio=False, decode=False)
    peers = [a, b, attacker]
    result = Outcome()
    try:
        for p in peers:
            await p.join()
        assert await wait_for(lambda: a.sees(b) and b.sees(a), 15)
        assert await wait_for(lambda: attacker.subscribe_pc is not None, 5)
        tally = Tally(attacker)
        assert await wait_for(lambda: len(tally.video_ssrcs()) == 2 and all(
            ((tally.last[s] - tally.first[s]) & 0xFFFF) >= 40 for s in tally.video_ssrcs()), 15)
        rss_before = rss_peak = rss(server.sfu_pid)
        cpu_before, started = cpu_seconds(server.sfu_pid), time.monotonic()
        media_before = tally.media_bytes
        stop = asyncio.Event()
        watchers = [asyncio.create_task(watch_stalls(x, y, stop)) for x, y in ((a, b), (b, a))]
        health = asyncio.create_task(watch_health(http, server, stop))
        for i in range(rounds):
            for ssrc in tally.video_ssrcs():
                nack = huge_nack(0x5EED, ssrc, tally.first[ssrc], tally.last[ssrc])
                await tally.dtls._send_rtp(nack)  # SRTCP-protected, like real feedback
                result.nack_bytes += len(nack)
            await asyncio.sleep(interval)
            if i % 10 == 0:
                rss_peak = max(rss_peak, rss(server.sfu_pid))
        result.cpu = cpu_seconds(server.sfu_pid) - cpu_before
        lasted = time.monotonic() - started
        await asyncio.sleep(1.0)  # what is still queued for the attacker arrives
        result.media_bytes = tally.media_bytes - media_before
        quiet_before = cpu_seconds(server.sfu_pid)
        await asyncio.sleep(lasted)
        result.quiet_cpu = cpu_seconds(server.sfu_pid) - quiet_before
        stop.set()
        result.stall = max(await asyncio.gather(*watchers))
        result.health_failures = await health
        result.rss_growth = max(rss_peak, rss(server.sfu_pid)) - rss_before
        result.rtx_bytes, result.rtx_packets = tally.rtx_bytes, tally.rtx_packets
        print(
            f"NACK flood ({rounds} rounds, {interval * 1000:.0f} ms apart): {result.nack_bytes} NACK bytes sent, "
            f"{result.rtx_packets} RTX packets / {result.rtx_bytes} bytes received ({result.media_bytes} media): amplification "
            f"{result.amplification:.2f}; longest honest stall {result.stall:.2f} s; server CPU {result.cpu:.2f} s (quiet: {result.quiet_cpu:.2f} s); RSS +{result.rss_growth >> 20} MiB"
        )
        assert a.sees(b) and b.sees(a) and a.hears(b) and b.hears(a)
        assert server.proc.poll() is None
        return result
    finally:
        await asyncio.gather(*(p.leave() for p in peers), return_exceptions=True)


async def test_a_nack_flood_is_bounded_and_harms_nobody(server: Server, http: aiohttp.ClientSession) -> None:
    result = await flood(server, http, NACKS, 0.05)
    assert result.health_failures == [], result.health_failures
    assert result.stall <= MAX_STALL
    assert result.rss_growth <= MAX_RSS_GROWTH
    assert result.rtx_packets > 0  # the NACKs did reach the server and were answered, within bounds
    assert result.amplification <= MAX_AMPLIFICATION
    # the RTX budget: about the attacker's own media rate (plus half a second of burst)
    assert result.rtx_bytes <= MAX_RTX_PER_MEDIA_BYTE * result.media_bytes, (result.rtx_bytes, result.media_bytes)


async def test_nacks_as_fast_as_an_attacker_can_send_them_harm_nobody(server: Server, http: aiohttp.ClientSession) -> None:
    # each of these costs aiortc ~1 ms to parse: 4.4 MB of them would be seconds of the server's time
    result = await flood(server, http, FAST_ROUNDS, 0.002)
    # the server spends little more than the call itself costs (unbounded: ~6 times as much)
    # (stalls are the other test's business: 1,000 SRTCP sends a second load
    # this test process, where the honest peers decode, more than the server)
    assert result.cpu <= 2.5 * result.quiet_cpu + 0.2, (result.cpu, result.quiet_cpu)
    assert result.health_failures == [], result.health_failures
    assert result.rss_growth <= MAX_RSS_GROWTH
    assert result.amplification <= MAX_AMPLIFICATION
