"""Seeded publisher streams and subscriber negotiations for the differential tests.

Every header feature a publisher may send appears: CSRCs, padding, one-byte
and two-byte extension blocks (and a foreign profile) carrying MID,
abs-send-time, audio level and unknown elements in random order with padding
bytes between them; the stream has loss, reordering and source switches.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from typing import Any, Iterator

from sfu.core.extensions import Ext
from sfu.core.packet import RtpView

# the publisher's negotiation (what RtpView.parse understands)
PUBLISHER_KINDS = {1: Ext.MID, 2: Ext.ABS_SEND_TIME, 3: Ext.AUDIO_LEVEL, 200: Ext.AUDIO_LEVEL}


def _one_byte_block(rng: random.Random, elements: list[tuple[int, bytes]]) -> bytes:
    body = b""
    for ext_id, value in elements:
        body += b"\x00" * rng.choice((0, 0, 0, 1, 2)) + bytes([ext_id << 4 | (len(value) - 1)]) + value
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!HH", 0xBEDE, len(body) // 4) + body


def _two_byte_block(rng: random.Random, elements: list[tuple[int, bytes]]) -> bytes:
    body = b""
    for ext_id, value in elements:
        body += b"\x00" * rng.choice((0, 0, 1)) + bytes([ext_id, len(value)]) + value
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!HH", 0x1000 | rng.randrange(16), len(body) // 4) + body


def publisher_packet(rng: random.Random, seq: int, ts: int, ssrc: int, pt: int = 96) -> bytes:
    """One valid RTP packet with random optional parts."""
    csrcs = [rng.getrandbits(32) for _ in range(rng.choice((0, 0, 0, 1, 3, 15)))]
    elements: list[tuple[int, bytes]] = []
    if rng.random() < 0.8:
        elements.append((1, "".join(rng.choice("abc0123") for _ in range(rng.randint(1, 16))).encode()))
    if rng.random() < 0.8:
        elements.append((2, rng.getrandbits(24).to_bytes(3, "big")))
    if rng.random() < 0.6:
        elements.append((3, bytes([rng.getrandbits(8)])))
    for _ in range(rng.choice((0, 1, 2))):  # unknown elements
        elements.append((rng.randint(4, 14), rng.randbytes(rng.randint(1, 16))))
    rng.shuffle(elements)
    block = b""
    style = rng.random()
    if elements and style < 0.75:
        block = _one_byte_block(rng, elements)
    elif elements and style < 0.9:
        if rng.random() < 0.5:  # a two-byte-only id for the audio level
            elements = [(200 if i == 3 else i, v) for i, v in elements]
        block = _two_byte_block(rng, elements)
    elif style < 0.95:
        block = struct.pack("!HH", 0xABCD, 1) + rng.randbytes(4)  # a profile nobody knows
    padding = rng.choice((0, 0, 0, 0, 1, 7, 200))
    b0 = 0x80 | (0x10 if block else 0) | (0x20 if padding else 0) | len(csrcs)
    b1 = (0x80 if rng.random() < 0.1 else 0) | pt
    header = struct.pack("!BBHII", b0, b1, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    header += b"".join(struct.pack("!I", c) for c in csrcs) + block
    payload = rng.randbytes(rng.choice((0, 1, 20, 160, rng.randint(0, 1200))))
    if padding:
        payload += bytes(padding - 1) + bytes([padding])
    return header + payload


@dataclass
class Step:
    """One thing that happens to a subscriber slot."""

    view: RtpView
    switch: int | None = None  # switch_source(skip) before this packet
    abs_send_time: int = 0


def stream(seed: int, packets: int = 10_000, oldest_first: bool = False, skips: tuple[int, ...] = ()) -> Iterator[Step]:
    """``packets`` packets in epochs of 200..1500 from changing sources, with 3% loss,
    shuffles within windows of up to 8 packets and a few duplicates.
    ``oldest_first`` puts each epoch's oldest packet first and adds no
    duplicates (a source switch then never maps a packet onto the previous
    epoch's numbers); ``skips`` are the switch_source skips to draw from
    (default: 0, 600 or anything)."""
    rng = random.Random(seed)
    produced = 0
    first = True
    while produced < packets:
        ssrc, seq0, ts0 = rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(32)
        length = rng.randint(200, 1500)
        seqs = [seq0 + i for i in range(length) if rng.random() > 0.03] or [seq0]
        arrived: list[int] = []
        for i in range(0, len(seqs), 8):
            window = seqs[i : i + 8]
            if rng.random() < 0.3:
                rng.shuffle(window)
            arrived.extend(window)
        if oldest_first:
            arrived.remove(seqs[0])
            arrived.insert(0, seqs[0])
        elif rng.random() < 0.2 and len(arrived) > 10:
            arrived.insert(5, arrived[2])  # a duplicate
        skip = None if first else rng.choice(skips or (0, 600, rng.randrange(0x10000)))
        first = False
        for n, s in enumerate(arrived[: packets - produced]):
            data = publisher_packet(rng, s, ts0 + (s - seq0) * 3000, ssrc)
            ast = rng.choice((rng.getrandbits(24), rng.getrandbits(32), -rng.getrandbits(20)))
            yield Step(RtpView.parse(data, PUBLISHER_KINDS), skip if n == 0 else None, ast)
        produced += min(len(arrived), packets - produced)


def negotiations(seed: int) -> list[dict[str, Any]]:
    """Subscriber slots covering every extension subset, ids up to 15 (15 is
    not writable), with and without RTX, video and audio clock rates."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for mask in range(8):
        for rtx in (True, False):
            kinds = [k for bit, k in enumerate(Ext) if mask >> bit & 1]
            ids = rng.sample(range(1, 16), len(kinds))
            mid = rng.choice(("0", "v1", "0123456789abcdef", "ü", "audio-7"))
            out.append(
                {
                    "ssrc": rng.getrandbits(32),
                    "payload_type": rng.choice((96, 100, 111, 127, 0)),
                    "ext_ids": dict(zip(kinds, ids)),
                    "mid": mid,
                    "rtx_ssrc": rng.getrandbits(32) if rtx else None,
                    "rtx_payload_type": rng.choice((97, 101, 127)) if rtx else rng.choice((None, 97)),
                    "first_sequence_number": rng.choice((None, 0, 65535, rng.randrange(0x8000))),
                    "first_timestamp": rng.choice((None, 0, 0xFFFFFFFF, rng.getrandbits(32))),
                    "clock_rate": rng.choice((90000, 48000, 8000)),
                    "first_rtx_sequence_number": rng.choice((None, 65535, rng.randrange(0x8000))),
                }
            )
    return out


STATE = (
    "ssrc", "payload_type", "mid", "rtx_ssrc", "rtx_payload_type", "clock_rate", "gap", "packets_sent",
    "octets_sent", "last_sequence_number", "last_timestamp", "rtx_sequence_number", "seq_offset", "ts_offset",
)  # fmt: skip


def state(rewriter: Any) -> tuple[Any, ...]:
    return tuple(getattr(rewriter, name) for name in STATE)
