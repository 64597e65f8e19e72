"""The load generator's two receive paths, CPU per received packet (benchmarks/synth.py).

``aiortc``: aioice's datagram callback, its queue, the DTLS transport's
receive task, unprotect, then the counter (every packet decrypted and
timed); ``socket``: the counter in the datagram callback itself, from the
SRTP header, with one packet in ``DECRYPT_EVERY`` decrypted and timed. Same
1124-byte SRTP packets (AEAD_AES_128_GCM, what the SFU's subscribe
connections negotiate), same real ``Participant`` counter, one event-loop
trip per packet in both. ``python -m benchmarks.receiver_path``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import struct
import time

import uvloop
from pylibsrtp import Policy, Session

from benchmarks.mux_receive import ADDR, new_dtls
from benchmarks.synth import DECRYPT_EVERY, Participant, Spec, Worker

PROFILE, KEY = Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28


def packets(key: bytes, count: int) -> list[bytes]:
    tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILE))
    payload = os.urandom(1124 - 12)
    return [tx.protect(struct.pack("!BBHII", 0x80, 111, i & 0xFFFF, i * 960, 0x1234 + i % 31) + payload)
            for i in range(count)]  # fmt: skip


def participant() -> Participant:
    p = Participant(Spec("rx", 0), Worker(None, {}))  # type: ignore[arg-type]
    p.first_frame_at = 0.0  # (audio payload type: no keyframe hunt)
    return p


async def run(path: str, data: list[bytes], key: bytes) -> float:
    dtls, protocol, _ = new_dtls(os.urandom(30))  # (its CM session is replaced by a GCM one)
    dtls._rx_srtp = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=PROFILE))
    p = participant()
    p.count_on(dtls)
    task = None
    if path == "socket":
        dtls.transport._connection._protocols.append(protocol)
        p.take_srtp_on(dtls)
    else:
        async def loop() -> None:
            while True:
                await dtls._recv_next()

        task = asyncio.get_running_loop().create_task(loop())
        await asyncio.sleep(0)
    start = time.process_time()
    for packet in data:
        protocol.datagram_received(packet, ADDR)
        await asyncio.sleep(0)
    elapsed = time.process_time() - start
    if task is not None:
        task.cancel()
    assert p.stats.rx_packets == len(data), (path, p.stats.rx_packets)
    assert p.stats.srtp_errors == 0
    return elapsed / len(data) * 1e6


async def main(count: int, rounds: int) -> None:
    key = os.urandom(KEY)
    results: dict[str, list[float]] = {"aiortc": [], "socket": [], "loop": []}
    for _ in range(rounds):  # interleaved
        data = packets(key, count)
        for path in ("aiortc", "socket"):
            results[path].append(await run(path, data, key))
        start = time.process_time()
        for _ in data:
            await asyncio.sleep(0)
        results["loop"].append((time.process_time() - start) / len(data) * 1e6)
    print(f"µs of CPU per received packet, median of {rounds} × {count} (loop trip included):")
    for path, values in results.items():
        note = {"socket": f" (1 in {DECRYPT_EVERY} decrypted)", "aiortc": " (every packet decrypted)",
                "loop": " (the loop trip alone)"}[path]  # fmt: skip
        print(f"  {path:7s} {statistics.median(values):6.2f}{note}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    uvloop.run(main(args.packets, args.rounds))
