"""The SFU's per-packet hot path in isolation, against the floor, in one run.

Every loop SRTP-protects with libsrtp (through pylibsrtp) and sends from the
same uvloop UDP socket (what aioice gives the SFU) to a loopback socket
nobody reads:

- **floor**: a header rewrite with ``struct.pack_into``, protect, ``sendto``,
  all from Python;
- **callsfu**: ``Forwarder.on_rtp`` (parse once, keyframe check, cache, then
  per subscriber the ``Rewriter``), then ``TransportSink``-style sends, to N
  subscribers: the pure-Python path (``CALLSFU_FORWARDING=python``);
- **native floor**: ``sfu.native.FanoutGroup.forward`` on a parsed packet: the
  C loop alone (rewrite + protect + sendto per datagram);
- **native**: ``Forwarder.on_rtp`` with the native fast group: what the
  default path runs per packet.

CPU time of the thread per forwarded datagram (µs), several rounds, best and
median; ``python -m benchmarks.hotpath``. ``--profiles`` adds the native floor
per SRTP profile (what the choice of profile costs).
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

import sfu.native as native
from sfu.core.extensions import Ext
from sfu.core.packet import RtpView
from sfu.core.rewriter import Rewriter
from sfu.routing.forwarder import Forwarder, Inbound, Outlet
from sfu.routing.layout import TrackKey
from sfu.rtc.srtp import lean_protect

SIZE = 1124
SUB_IDS = {Ext.MID: 1, Ext.ABS_SEND_TIME: 3}
PROFILES = {  # name: (libsrtp profile, master key + salt length)
    "AEAD_AES_128_GCM": (Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
    "AEAD_AES_256_GCM": (Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 44),
    "AES128_CM_SHA1_80": (Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
}
DEFAULT_PROFILE = "AEAD_AES_128_GCM"  # what the SFU negotiates as DTLS server (sfu/rtc/srtp_profiles.py)


def srtp_policy(profile: str) -> Policy:
    libsrtp_profile, key_length = PROFILES[profile]
    policy = Policy(key=os.urandom(key_length), ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=libsrtp_profile)
    policy.allow_repeat_tx = True
    return policy


def srtp_session(profile: str) -> Session:
    return Session(policy=srtp_policy(profile))


class Sink:
    """What ``sfu.rtc.sink.TransportSink`` does once bound, on either path."""

    __slots__ = ("_protect", "_sendto", "_addr", "_native")

    def __init__(self, transport: Any, addr: tuple[str, int], profile: str, use_native: bool = False) -> None:
        session = srtp_session(profile)
        self._protect = lean_protect(session)
        self._sendto = transport.sendto
        self._addr = addr
        self._native = native.new_sink(transport.get_extra_info("socket"), addr, srtp_policy(profile)) if use_native else None

    def native_sink(self) -> Any:
        return self._native

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


def python_floor(transport: Any, addr: tuple[str, int], total: int, profile: str) -> float:
    sink = Sink(transport, addr, profile)
    template = vp8_packet(0, 0)
    pack_into = struct.Struct("!HI").pack_into
    start = time.thread_time()
    for i in range(total):
        packet = bytearray(template)
        pack_into(packet, 2, i & 0xFFFF, i * 3000 & 0xFFFFFFFF)
        sink.send(bytes(packet))
    return (time.thread_time() - start) / total * 1e6


def native_floor(transport: Any, addr: tuple[str, int], subscribers: int, packets: int, profile: str) -> float:
    group = native.FanoutGroup()
    for n in range(subscribers):
        sink = native.new_sink(transport.get_extra_info("socket"), addr, srtp_policy(profile))
        group.add(native.Rewriter(n + 1, 97, SUB_IDS, str(n)), sink)
    views = [RtpView.parse(vp8_packet(i, i * 90), {1: Ext.MID, 3: Ext.ABS_SEND_TIME}) for i in range(packets)]
    forward = group.forward
    start = time.thread_time()
    for view in views:
        forward(view, 0x123456)
    return (time.thread_time() - start) / (packets * subscribers) * 1e6


def forwarder_path(transport: Any, addr: tuple[str, int], subscribers: int, packets: int, profile: str,
                   use_native: bool) -> float:  # fmt: skip
    group_factory = None
    if use_native:
        from sfu.rtc.fanout import NativeGroup

        group_factory = NativeGroup
    fwd: Forwarder[Sink] = Forwarder(group_factory)  # type: ignore[arg-type]
    inbound: Inbound[Sink] = Inbound(TrackKey("pub", "video"), 96, {1: Ext.MID, 3: Ext.ABS_SEND_TIME})
    cls: Any = native.Rewriter if use_native else Rewriter
    for n in range(subscribers):
        outlet: Outlet[Sink] = Outlet("video", Sink(transport, addr, profile, use_native))
        fwd.attach(outlet, inbound, 0.0)
        fwd.ready(outlet, cls(ssrc=n + 1, payload_type=97, ext_ids=SUB_IDS, mid=str(n)), 0.0)
    for sink, packet in fwd.on_rtp(inbound, vp8_packet(0, 0, keyframe=True), 0x123456):
        sink.send(packet)  # the keyframe that starts everyone (then the fast group, if any)
    inputs = [vp8_packet(i, i * 90) for i in range(1, packets + 1)]
    on_rtp = fwd.on_rtp
    start = time.thread_time()
    for data in inputs:
        for sink, packet in on_rtp(inbound, data, 0x123456):
            sink.send(packet)
    elapsed = time.thread_time() - start
    if use_native:
        assert inbound.group is not None and len(inbound.group) == subscribers  # type: ignore[arg-type]
    return elapsed / (packets * subscribers) * 1e6


async def measure(subscribers: int, packets: int, profile: str) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    sink_sock = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    send_tr, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    addr = sink_sock[0].get_extra_info("sockname")
    try:
        out = {
            "floor": python_floor(send_tr, addr, packets * subscribers, profile),
            "callsfu": forwarder_path(send_tr, addr, subscribers, packets, profile, use_native=False),
        }
        if native.AVAILABLE:
            out["native_floor"] = native_floor(send_tr, addr, subscribers, packets, profile)
            out["native"] = forwarder_path(send_tr, addr, subscribers, packets, profile, use_native=True)
        return out
    finally:
        sink_sock[0].close()
        send_tr.close()


async def measure_profiles(subscribers: int, packets: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    sink_sock = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    send_tr, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    addr = sink_sock[0].get_extra_info("sockname")
    try:
        return {p: native_floor(send_tr, addr, subscribers, packets, p) for p in PROFILES}
    finally:
        sink_sock[0].close()
        send_tr.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotpath", description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", default="1,4,16,31", help="comma-separated fan-outs (default 1,4,16,31)")
    parser.add_argument("--packets", type=int, default=3000, help="incoming packets per round (default 3000)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", choices=list(PROFILES), default=DEFAULT_PROFILE, help="SRTP profile of every sink")
    parser.add_argument("--profiles", action="store_true", help="also: the native floor per SRTP profile (N=16)")
    args = parser.parse_args(argv)
    if not native.AVAILABLE:
        print(f"native fan-out not built ({native.BUILD_ERROR}): Python columns only")
    print(f"SRTP {args.profile}; µs per datagram, best of {args.rounds}")
    print(f"{'N':>4} {'floor':>7} {'callsfu':>8} {'ratio':>6} {'C floor':>8} {'native':>7} {'ratio':>6}")
    for n in [int(x) for x in args.subscribers.split(",")]:
        runs = [uvloop.run(measure(n, max(200, args.packets // n), args.profile)) for _ in range(args.rounds)]
        best = {k: min(r[k] for r in runs) for k in runs[0]}
        py_ratio = statistics.median(r["callsfu"] / r["floor"] for r in runs)
        line = f"{n:>4} {best['floor']:>7.2f} {best['callsfu']:>8.2f} {py_ratio:>6.2f}"
        if "native" in best:
            c_ratio = statistics.median(r["native"] / r["native_floor"] for r in runs)
            line += f" {best['native_floor']:>8.2f} {best['native']:>7.2f} {c_ratio:>6.2f}"
        print(line, flush=True)
    if args.profiles and native.AVAILABLE:
        runs_p = [uvloop.run(measure_profiles(16, max(200, args.packets // 16))) for _ in range(args.rounds)]
        print("native floor per SRTP profile, N=16 (µs per datagram, best; median):")
        for name in PROFILES:
            values = [r[name] for r in runs_p]
            print(f"  {name:<18} {min(values):>6.2f} {statistics.median(values):>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
