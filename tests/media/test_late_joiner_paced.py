"""A late joiner's cache replay is paced: it sees the picture at once and loses nothing.

The publisher sends full-size packets (textured video, ~500 kbit/s), so the
replay since the last keyframe is hundreds of packets. The late joiner reads
through a small socket buffer (64 KiB asked, as a slow reader or Firefox's
208 KiB default would): sent in one tight loop, the replay overflows it and
the kernel drops packets; paced, every one arrives.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from tests.media.conftest import Server, new_link
from tests.media.peer import Peer, wait_for

RECEIVE_BUFFER = 64 * 1024


class Arrivals:
    """Sequence numbers of one video SSRC as they arrive (RTX counted by its original)."""

    def __init__(self, peer: Peer) -> None:
        assert peer.subscribe_pc is not None
        self.peer = peer
        self.seqs: dict[int, list[int]] = {}
        self.repaired: dict[int, list[int]] = {}
        self.bytes = 0
        dtls = peer.subscribe_pc.getTransceivers()[0].receiver.transport
        original = dtls._handle_rtp_data

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            if len(data) >= 12:
                ssrc, seq = int.from_bytes(data[8:12], "big"), int.from_bytes(data[2:4], "big")
                self.bytes += len(data)
                if ssrc in peer.rtx_ssrcs:
                    self.repaired.setdefault(ssrc, []).append(rtx_original(data))
                elif peer._kind_of_ssrc.get(ssrc) == "video":
                    self.seqs.setdefault(ssrc, []).append(seq)
            await original(data, arrival_time_ms)

        dtls._handle_rtp_data = handle_rtp_data


def rtx_original(data: bytes) -> int:
    """The original sequence number at the start of an RTX payload (RFC 4588)."""
    pos = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        pos += 4 + 4 * int.from_bytes(data[pos + 2 : pos + 4], "big")
    return int.from_bytes(data[pos : pos + 2], "big")


def gaps(seqs: list[int], repaired: list[int]) -> list[int]:
    have = set(seqs) | set(repaired)
    first = seqs[0]
    span = (seqs[-1] - first) & 0xFFFF
    return [(first + i) & 0xFFFF for i in range(span + 1) if (first + i) & 0xFFFF not in have]


async def test_a_late_joiners_replay_is_paced_seen_at_once_and_nothing_is_lost(
    server: Server, http: aiohttp.ClientSession
) -> None:
    token = await new_link(http, server)
    publisher = Peer(http, server.url, token, "publisher", 0, audio=False, textured=True)
    early = Peer(http, server.url, token, "early", 1, video=False, audio=False)
    late = Peer(http, server.url, token, "late", 2, video=False, audio=False, receive_buffer=RECEIVE_BUFFER)
    peers = [publisher, early, late]
    try:
        await publisher.join()
        await early.join()
        assert await wait_for(lambda: early.sees(publisher), 15)
        await asyncio.sleep(4)  # ~4 s since the keyframe early's join asked for: a big replay
        await late.join()
        # count from the first packet on (ICE and DTLS take longer than this wait)
        assert await wait_for(lambda: late.subscribe_pc is not None and bool(late.subscribe_pc.getTransceivers()), 5, 0.002)
        arrivals = Arrivals(late)
        assert late.connected_at is not None
        assert await wait_for(lambda: late.sees(publisher), 5, 0.01)
        seen_after = time.monotonic() - late.connected_at
        await asyncio.sleep(3)  # the replay has drained, live packets flow
        ssrcs = list(arrivals.seqs)
        assert len(ssrcs) == 1, arrivals.seqs.keys()
        seqs = arrivals.seqs[ssrcs[0]]
        repaired = [s for r in arrivals.repaired.values() for s in r]
        missing = gaps(seqs, repaired)
        counted = 0
        if late.subscribe_pc is not None:
            stats: list[Any] = list((await late.subscribe_pc.getTransceivers()[0].receiver.getStats()).values())
            counted = sum(s.packetsReceived for s in stats if s.type == "inbound-rtp")
        print(f"late joiner: picture after {seen_after:.2f} s; {len(seqs)} video packets "
              f"({counted} counted by aiortc), {len(repaired)} repaired by RTX, {len(missing)} missing")
        assert len(seqs) >= 200  # the replay was big enough to matter
        assert missing == [], missing[:20]
        assert late.sees(publisher)
    finally:
        await asyncio.gather(*(p.leave() for p in peers), return_exceptions=True)
