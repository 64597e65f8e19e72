"""The floor: what one forwarded packet costs at least in this design.

SRTP protect (libsrtp through pylibsrtp, AES_CM_128_HMAC_SHA1_80 by default,
as the load test's floor has always used) plus one UDP ``sendto`` on loopback
per packet, with the per-subscriber header rewrite, in a tight loop. Two
floors: the Python one (``bytearray`` + ``struct.pack_into``, pylibsrtp's
protect, ``socket.sendto``) and, when the extension is built, the native one
(``sfu.native.FanoutGroup.forward`` to 16 subscribers: the C loop does the
rewrite, ``srtp_protect`` and ``sendto`` per datagram). CPU time of the
calling thread per datagram, in µs.
"""

from __future__ import annotations

import os
import socket
import struct
import time

from pylibsrtp import Policy, Session

import sfu.native as native
from sfu.core.extensions import Ext
from sfu.core.packet import RtpView

PROFILE_80 = (Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30)


def _policy(profile: tuple[int, int]) -> Policy:
    policy = Policy(key=os.urandom(profile[1]), ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile[0])
    policy.allow_repeat_tx = True
    return policy


def _session(profile: tuple[int, int]) -> Session:
    return Session(policy=_policy(profile))


def _sockets() -> tuple[socket.socket, socket.socket]:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))  # never read: the kernel drops what overflows
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    return sink, sock


def floor_us_per_packet(packets: int = 100_000, size: int = 1124, profile: tuple[int, int] = PROFILE_80) -> float:
    session = _session(profile)
    sink, sock = _sockets()
    addr = sink.getsockname()
    template = bytes([0x80, 96]) + bytes(10) + os.urandom(size - 12)
    pack_into = struct.Struct("!HI").pack_into
    protect = session.protect
    sendto = sock.sendto
    try:
        start = time.thread_time()
        for i in range(packets):
            packet = bytearray(template)
            pack_into(packet, 2, i & 0xFFFF, i * 3000 & 0xFFFFFFFF)
            try:
                sendto(protect(bytes(packet)), addr)
            except BlockingIOError:
                pass
        return (time.thread_time() - start) / packets * 1e6
    finally:
        sock.close()
        sink.close()


def native_floor_us_per_packet(
    packets: int = 100_000, size: int = 1124, profile: tuple[int, int] = PROFILE_80, subscribers: int = 16
) -> float | None:
    """The same per datagram from C; None when the extension is not built."""
    if not native.AVAILABLE:
        return None
    sink, sock = _sockets()
    group = native.FanoutGroup()
    for n in range(subscribers):
        group.add(native.Rewriter(n + 1, 97, {Ext.ABS_SEND_TIME: 3}, "0"), native.new_sink(sock, sink.getsockname(), _policy(profile)))
    views = [RtpView.parse(bytes([0x80, 96]) + struct.pack("!HI", i, i * 3000) + bytes(4) + os.urandom(size - 12), {})
             for i in range(max(1, packets // subscribers))]  # fmt: skip
    forward = group.forward
    try:
        start = time.thread_time()
        for view in views:
            forward(view, 0)
        return (time.thread_time() - start) / (len(views) * subscribers) * 1e6
    finally:
        group.clear()
        sock.close()
        sink.close()


if __name__ == "__main__":
    print(f"python floor: {floor_us_per_packet():.2f} µs per packet")
    c = native_floor_us_per_packet()
    print("native floor: " + (f"{c:.2f} µs per packet" if c is not None else "not built"))
