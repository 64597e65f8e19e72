"""The VP8 descriptor rewrite (sfu.core.vp8): pure, over thousands of packets
of three simulcast layers with layer switches at keyframes and loss."""

from __future__ import annotations

import random
import struct

import pytest

from sfu.core.packet import is_vp8_keyframe_start
from sfu.core.vp8 import Vp8Munger, keyframe_size, parse_descriptor


def vp8_payload(
    picture_id: int, tl0: int, keyidx: int, *, start: bool, keyframe: bool, tid: int = 0,
    size: tuple[int, int] = (320, 180), wide: bool = True, body: bytes = b"\xaa" * 20,
) -> bytes:
    """A payload with X, I (15- or 7-bit), L, T and K present."""
    head = bytes([0x80 | (0x10 if start else 0), 0xF0])
    pid = struct.pack("!H", 0x8000 | picture_id) if wide else bytes([picture_id & 0x7F])
    tk = bytes([(tid & 3) << 6 | 0x20 | (keyidx & 0x1F)])
    out = head + pid + bytes([tl0]) + tk
    if start:
        if keyframe:
            w, h = size
            out += bytes([0x00, 0, 0]) + b"\x9d\x01\x2a" + struct.pack("<HH", w, h)
        else:
            out += bytes([0x01, 0, 0])
    return out + body


def test_descriptor_fields_and_keyframe_size() -> None:
    p = vp8_payload(0x1234, 77, 9, start=True, keyframe=True, size=(640, 360))
    d = parse_descriptor(p)
    assert d is not None
    assert (d.start, d.partition, d.picture_id, d.picture_id_wide, d.tl0picidx, d.keyidx) == (True, 0, 0x1234, True, 77, 9)
    assert d.header == 6
    assert is_vp8_keyframe_start(p)
    assert keyframe_size(p) == (640, 360)
    assert keyframe_size(vp8_payload(1, 1, 1, start=True, keyframe=False)) is None
    assert keyframe_size(vp8_payload(1, 1, 1, start=False, keyframe=True)) is None
    # no extension at all: nothing to rewrite, still a descriptor
    assert parse_descriptor(b"\x10\x00") is not None
    assert parse_descriptor(b"") is None
    assert parse_descriptor(b"\x80") is None  # X without its byte
    assert parse_descriptor(b"\x80\x80\x80") is None  # a 15-bit PictureID cut short


def test_truncated_and_odd_payloads_pass_unchanged() -> None:
    m = Vp8Munger()
    m.rewrite(vp8_payload(100, 5, 1, start=True, keyframe=True))
    m.switch()
    m.rewrite(vp8_payload(9000, 200, 30, start=True, keyframe=True))  # offsets now non-zero
    for junk in (b"", b"\x80", b"\x80\x80\x80", b"\x80\x40", bytes(1)):
        assert m.rewrite(junk) == junk
        assert m.translate(junk) == junk


def test_seven_bit_picture_ids_keep_their_width() -> None:
    m = Vp8Munger()
    m.rewrite(vp8_payload(120, 1, 0, start=True, keyframe=True, wide=False))
    m.switch()
    out = m.rewrite(vp8_payload(3, 50, 0, start=True, keyframe=True, wide=False))
    d = parse_descriptor(out)
    assert d is not None and not d.picture_id_wide and d.picture_id == 121
    out = m.rewrite(vp8_payload(10, 50, 0, start=True, keyframe=False, wide=False))
    d = parse_descriptor(out)
    assert d is not None and d.picture_id == (121 + 7) % 128


@pytest.mark.parametrize("seed", range(4))
def test_three_layers_switching_at_keyframes_with_loss(seed: int) -> None:
    """An outlet following a random layer at a time: its PictureID,
    TL0PICIDX and KEYIDX go on by one frame at a switch, keep the input's
    gaps within an epoch (loss), and everything else in the payload is
    untouched; a retransmission maps as the first sending did."""
    rng = random.Random(seed)
    layers = [
        {"pid": rng.randrange(0x8000), "tl0": rng.randrange(256), "key": rng.randrange(32)} for _ in range(3)
    ]
    m = Vp8Munger()
    current = 0
    target: int | None = None
    last_out: tuple[int, int, int] | None = None  # of the last frame sent
    epoch_offsets: tuple[int, int, int] | None = None
    epoch_packets: list[tuple[bytes, bytes]] = []
    switches = 0
    packets = 0
    for frame in range(3000):
        keyframe = frame % 30 == 0 or rng.random() < 0.03
        if rng.random() < 0.05 and target is None:
            target = rng.choice([i for i in range(3) if i != current])
        for index, layer in enumerate(layers):
            layer["pid"] = (layer["pid"] + 1) % 0x8000
            layer["tl0"] = (layer["tl0"] + 1) % 256
            if keyframe:
                layer["key"] = (layer["key"] + 1) % 32
        switch_now = target is not None and keyframe
        if switch_now:
            assert target is not None
            current, target = target, None
            m.switch()
            switches += 1
        layer = layers[current]
        for part in range(rng.randrange(1, 5)):
            payload = vp8_payload(layer["pid"], layer["tl0"], layer["key"], start=part == 0, keyframe=keyframe)
            if rng.random() < 0.04 and not (switch_now and part == 0):
                continue  # lost before the SFU (the switch waits for a keyframe that arrived)
            out = m.rewrite(payload)
            packets += 1
            assert len(out) == len(payload) and out[6:] == payload[6:] and out[:2] == payload[:2]
            d = parse_descriptor(out)
            assert d is not None and d.picture_id is not None and d.tl0picidx is not None and d.keyidx is not None
            got = (d.picture_id, d.tl0picidx, d.keyidx)
            offsets = (
                (d.picture_id - layer["pid"]) % 0x8000,
                (d.tl0picidx - layer["tl0"]) % 256,
                (d.keyidx - layer["key"]) % 32,
            )
            if switch_now and part == 0:
                if last_out is not None:
                    # one step on from the last frame the subscriber got
                    assert got[0] == (last_out[0] + 1) % 0x8000
                    assert got[1] == (last_out[1] + 1) % 256
                    assert got[2] == (last_out[2] + 1) % 32
                epoch_offsets = offsets
                epoch_packets = []
            elif epoch_offsets is not None:
                assert offsets == epoch_offsets  # a constant mapping within the epoch: gaps kept
            else:
                assert offsets == (0, 0, 0)  # before any switch: the publisher's own values
            last_out = got
            epoch_packets.append((payload, out))
        # a retransmission of anything of this epoch maps as it was sent
        if epoch_packets:
            original, sent = rng.choice(epoch_packets)
            assert m.translate(original) == sent
    assert switches > 50 and packets > 5000


def test_identity_until_a_switch_moves_it() -> None:
    m = Vp8Munger()
    p = vp8_payload(5, 6, 7, start=True, keyframe=True)
    assert m.rewrite(p) is p and m.identity
    m.switch()
    assert not m.identity
    q = vp8_payload(6, 7, 8, start=True, keyframe=True)
    assert m.rewrite(q) == q  # the same layer's next frame: offsets 0 again
    assert m.identity
