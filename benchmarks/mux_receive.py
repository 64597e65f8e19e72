"""CPU per received SRTP packet: aiortc's receive path vs the UDP mux's (a few seconds).

Both variants decrypt the same AES-CM SRTP packets (1124-byte VP8-sized RTP)
with a real ``RTCDtlsTransport``'s ``_rx_srtp`` and end in the same no-op
``on_rtp(data, arrival_time_ms)``; each packet is followed by one trip
through the (uvloop) event loop, as a datagram read is in the server.

- ``aiortc``: aioice's ``StunProtocol.datagram_received`` (a STUN parse
  attempt), ``Connection.data_received`` into aioice's queue, the DTLS
  transport's receive task woken (``_recv_next``: ``recv`` → ``recvfrom`` →
  ``Queue.get``), then ``await _handle_rtp_data``.
- ``mux``: ``HostSocket.datagram_received`` → the route by remote address →
  decrypt → ``dtls._callsfu_on_rtp``, in the callback.

    .venv/bin/python -m benchmarks.mux_receive [--packets 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import struct
import time
from collections import Counter

import uvloop
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport, State
from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport
from aioice.candidate import Candidate
from aioice.ice import CandidatePair, StunProtocol
from pylibsrtp import Policy, Session

from sfu.rtc import mux

ADDR = ("127.0.0.1", 40000)


def srtp_packets(key: bytes, count: int) -> list[bytes]:
    tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80))
    payload = os.urandom(1124 - 12)
    return [tx.protect(struct.pack("!BBHII", 0x80, 96, i & 0xFFFF, i * 3000, 0x1234) + payload) for i in range(count)]


def receiver(key: bytes) -> Session:
    policy = Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
    policy.window_size = 1024
    policy.allow_repeat_tx = True
    return Session(policy)


def new_dtls(key: bytes) -> tuple[RTCDtlsTransport, StunProtocol, list[int]]:
    ice = RTCIceTransport(RTCIceGatherer(iceServers=[]))
    dtls = RTCDtlsTransport(ice, [RTCCertificate.generateCertificate()])
    dtls._rx_srtp = receiver(key)
    dtls._state = State.CONNECTED
    dtls._RTCDtlsTransport__handshake_done = True  # type: ignore[attr-defined]
    connection = ice._connection
    protocol = StunProtocol(connection)
    protocol.local_candidate = Candidate("1", 1, "udp", 1, "127.0.0.1", 1, "host")
    connection._nominated[1] = CandidatePair(protocol, Candidate("2", 1, "udp", 1, ADDR[0], ADDR[1], "host"))
    count = [0]

    def on_rtp(data: bytes, arrival_time_ms: int) -> None:
        count[0] += 1

    async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
        on_rtp(data, arrival_time_ms)

    dtls._handle_rtp_data = handle_rtp_data  # type: ignore[method-assign]
    dtls._callsfu_on_rtp = on_rtp  # type: ignore[attr-defined]
    return dtls, protocol, count


async def aiortc_path(packets: list[bytes], key: bytes) -> float:
    dtls, protocol, count = new_dtls(key)

    async def run() -> None:
        while True:
            await dtls._recv_next()

    task = asyncio.get_running_loop().create_task(run())
    await asyncio.sleep(0)
    start = time.process_time()
    for packet in packets:
        protocol.datagram_received(packet, ADDR)
        await asyncio.sleep(0)
    elapsed = time.process_time() - start
    task.cancel()
    assert count[0] == len(packets), count
    return elapsed


async def mux_path(packets: list[bytes], key: bytes) -> float:
    dtls, protocol, count = new_dtls(key)
    host = mux.HostSocket("127.0.0.1", 1, Counter())
    route = mux.Route(host, protocol, dtls.transport._connection)
    route._dtls = dtls
    route.learn(ADDR)
    start = time.process_time()
    for packet in packets:
        host.datagram_received(packet, ADDR)
        await asyncio.sleep(0)
    elapsed = time.process_time() - start
    assert count[0] == len(packets), (count, host.dropped)
    return elapsed


async def idle_loop(packets: list[bytes]) -> float:
    """The loop trip alone, to subtract."""
    start = time.process_time()
    for _ in packets:
        await asyncio.sleep(0)
    return time.process_time() - start


async def main(count: int) -> None:
    key = os.urandom(30)
    results: dict[str, list[float]] = {"aiortc": [], "mux": [], "loop": []}
    for _ in range(5):  # interleaved runs; medians
        packets = srtp_packets(key, count)
        results["aiortc"].append(await aiortc_path(packets, key) / count * 1e6)
        results["mux"].append(await mux_path(packets, key) / count * 1e6)
        results["loop"].append(await idle_loop(packets) / count * 1e6)
    med = {k: sorted(v)[len(v) // 2] for k, v in results.items()}
    print(f"µs of CPU per received packet (median of 5 × {count}, loop trip included):")
    for name in ("aiortc", "mux", "loop"):
        print(f"  {name:7s} {med[name]:6.2f}")
    print(f"  saved   {med['aiortc'] - med['mux']:6.2f} µs per packet"
          f" ({(med['aiortc'] - med['mux']) / (med['aiortc'] - med['loop']) * 100:.0f}% of the receive path outside the loop trip)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=20000)
    args = parser.parse_args()
    uvloop.run(main(args.packets))
