"""The native fan-out shaped like a meeting: many sections per subscriber connection.

``benchmarks.hotpath`` gives every subscriber a connection of its own with
one SSRC; in a meeting of N each subscriber connection carries 2(N-1)
outgoing SSRCs (a video and an audio section per other participant), which
is what made libsrtp's per-session stream look-up show in the profile. Here:
N connections (native sinks on one shared UDP socket, as the mux has, each to
a loopback socket nobody reads), and per participant a video and an audio
``FanoutGroup`` of N-1 pairs; every round forwards one 1124-byte video
packet and one 120-byte audio packet of each participant, through
``FanoutGroup.forward`` (the C loop alone, no Python per subscriber).

CPU time of the thread per datagram sent (µs), best and median of the
rounds; ``python -m benchmarks.hotpath_meeting [--participants 32]``. It runs
on an older build of ``sfu.native`` too (one pylibsrtp session per
connection), which is how the before/after figures in benchmarks/README.md
were taken.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import time
from typing import Any

from pylibsrtp import Policy, Session

import sfu.native as native
from sfu.core.extensions import Ext
from sfu.core.packet import RtpView
from sfu.rtc.srtp import OUTBOUND_WINDOW

KINDS = {1: Ext.MID, 3: Ext.ABS_SEND_TIME}
SUB_IDS = {Ext.MID: 1, Ext.ABS_SEND_TIME: 3}
PROFILE, KEY_LENGTH = Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28  # what subscribe connections negotiate


def new_sink(sock: socket.socket, addr: tuple[str, int]) -> Any:
    policy = Policy(key=os.urandom(KEY_LENGTH), ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILE)
    policy.allow_repeat_tx = True
    policy.window_size = OUTBOUND_WINDOW
    if hasattr(native, "MAX_STREAMS"):  # one session per SSRC, made by the sink from the policy
        return native.new_sink(sock, addr, policy)
    return native.new_sink(sock, addr, Session(policy))  # older build: one session per connection


def packet(seq: int, size: int, keyframe: bool = False) -> RtpView:
    ext = bytes([0x10, ord("0"), 0x32, 1, 2, 3, 0, 0])
    header = struct.pack("!BBHII", 0x90, 96, seq & 0xFFFF, seq * 3000 & 0xFFFFFFFF, 1234)
    body = bytes([0x10, 0x00 if keyframe else 0x01, 0, 0]) + os.urandom(size - 28)
    return RtpView.parse(header + struct.pack("!HH", 0xBEDE, 2) + ext + body, KINDS)


def measure(participants: int, rounds_of_packets: int) -> float:
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    sender.setblocking(False)
    receivers = []
    for _ in range(participants):
        r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        r.bind(("127.0.0.1", 0))
        receivers.append(r)
    sinks = [new_sink(sender, r.getsockname()) for r in receivers]
    groups = []
    ssrc = 1
    for p in range(participants):
        for kind in ("video", "audio"):
            group = native.FanoutGroup()
            for q in range(participants):
                if q != p:
                    group.add(native.Rewriter(ssrc, 96 if kind == "video" else 111, SUB_IDS, str(ssrc)), sinks[q])
                    ssrc += 1
            groups.append((group, kind))
    video = [packet(i, 1124) for i in range(rounds_of_packets)]
    audio = [packet(i, 120) for i in range(rounds_of_packets)]
    for group, kind in groups:  # every SSRC's first packet (the old build makes its streams then)
        group.forward(video[0] if kind == "video" else audio[0], 0)
    start = time.thread_time()
    for i in range(1, rounds_of_packets):
        for group, kind in groups:
            group.forward(video[i] if kind == "video" else audio[i], 0x123456)
    elapsed = time.thread_time() - start
    for group, _ in groups:
        group.clear()
    for s in (sender, *receivers):
        s.close()
    return elapsed / ((rounds_of_packets - 1) * len(groups) * (participants - 1)) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotpath_meeting", description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=32)
    parser.add_argument("--packets", type=int, default=60, help="packets per track per round (default 60)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if not native.AVAILABLE:
        print(f"native fan-out not built ({native.BUILD_ERROR})")
        return 1
    runs = [measure(args.participants, args.packets) for _ in range(args.rounds)]
    path = "sendmmsg, a session per SSRC" if hasattr(native, "MAX_STREAMS") else "older build"
    print(f"meeting {args.participants} ({path}): {min(runs):.2f} µs per datagram best, "
          f"{statistics.median(runs):.2f} median of {args.rounds}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
