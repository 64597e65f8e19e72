"""The SFU's per-packet hot path in isolation, against the floor, in one run.

Both loops SRTP-protect with pylibsrtp and send with the same uvloop UDP
transport (what aioice gives the SFU) to a loopback socket nobody reads:

- **floor**: a header rewrite with ``struct.pack_into``, protect, ``sendto``;
- **callsfu**: ``Forwarder.on_rtp`` (parse once, keyframe check, cache, then
  per subscriber the ``Rewriter``), then ``TransportSink``-style sends, to N
  subscribers; what the glue in ``sfu/rtc/ingress.py`` runs per packet.

CPU time of the thread per forwarded packet (µs), several rounds, best and
median; ``python -m benchmarks.hotpath``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import struct
import time
from typing import Any

import uvloop
from pylibsrtp import Policy, Session

from sfu.core.extensions import Ext
from sfu.rtc.srtp import lean_protect
from sfu.core.rewriter import Rewriter
from sfu.routing.forwarder import Forwarder, Inbound, Outlet
from sfu.routing.layout import TrackKey

SIZE = 1124


class Sink:
    """What ``sfu.rtc.sink.TransportSink.send`` does once bound."""

    __slots__ = ("_protect", "_sendto", "_addr")

    def __init__(self, transport: Any, addr: tuple[str, int]) -> None:
        policy = Policy(key=os.urandom(30), ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                        srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80)  # fmt: skip
        self._protect = lean_protect(Session(policy=policy))
        self._sendto = transport.sendto
        self._addr = addr

    def send(self, packet: bytes) -> None:
        try:
            self._sendto(self._protect(packet), self._addr)
        except Exception:
            pass


def vp8_packet(seq: int, ts: int, keyframe: bool = False) -> bytes:
    ext = bytes([0x10, ord("0"), 0x32, 1, 2, 3, 0, 0])
    header = struct.pack("!BBHII", 0x90, 96, seq & 0xFFFF, ts & 0xFFFFFFFF, 1234)
    vp8 = bytes([0x10, 0x00 if keyframe else 0x01, 0, 0])
    return header + struct.pack("!HH", 0xBEDE, 2) + ext + vp8 + os.urandom(SIZE - 28)


async def measure(subscribers: int, packets: int) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    sink_sock = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    send_tr, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    addr = sink_sock[0].get_extra_info("sockname")
    try:
        # floor
        floor_sink = Sink(send_tr, addr)
        template = vp8_packet(0, 0)
        pack_into = struct.Struct("!HI").pack_into
        total = packets * subscribers
        start = time.thread_time()
        for i in range(total):
            packet = bytearray(template)
            pack_into(packet, 2, i & 0xFFFF, i * 3000 & 0xFFFFFFFF)
            floor_sink.send(bytes(packet))
        floor = (time.thread_time() - start) / total * 1e6
        await asyncio.sleep(0)

        # callsfu
        fwd: Forwarder[Sink] = Forwarder()
        inbound: Inbound[Sink] = Inbound(TrackKey("pub", "video"), 96, {1: Ext.MID, 3: Ext.ABS_SEND_TIME})
        for n in range(subscribers):
            outlet: Outlet[Sink] = Outlet("video", Sink(send_tr, addr))
            fwd.attach(outlet, inbound, 0.0)
            fwd.ready(outlet, Rewriter(ssrc=n + 1, payload_type=97, ext_ids={Ext.MID: 1, Ext.ABS_SEND_TIME: 3}, mid=str(n)), 0.0)
        inputs = [vp8_packet(i, i * 90, keyframe=i == 0) for i in range(packets)]
        on_rtp = fwd.on_rtp
        sent = 0
        start = time.thread_time()
        for data in inputs:
            out = on_rtp(inbound, data, 0x123456)
            for sink, packet in out:
                sink.send(packet)
            sent += len(out)
        callsfu = (time.thread_time() - start) / total * 1e6
        assert sent == total, f"forwarded {sent} of {total}"
        return floor, callsfu
    finally:
        sink_sock[0].close()
        send_tr.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotpath", description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", default="1,4,16,31", help="comma-separated fan-outs (default 1,4,16,31)")
    parser.add_argument("--packets", type=int, default=3000, help="incoming packets per round (default 3000)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{'N':>4} {'floor µs':>9} {'callsfu µs':>11} {'ratio':>6}   (best of {args.rounds}; median ratio)")
    for n in [int(x) for x in args.subscribers.split(",")]:
        results = [uvloop.run(measure(n, max(200, args.packets // n))) for _ in range(args.rounds)]
        floors, ours = [f for f, _ in results], [c for _, c in results]
        ratio = statistics.median(c / f for f, c in results)
        print(f"{n:>4} {min(floors):>9.2f} {min(ours):>11.2f} {ratio:>6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
