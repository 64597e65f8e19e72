"""The sink's own AES-GCM streams (sfu/native/gcm.c) against libsrtp.

Seeded streams of RTP packets for a few SSRCs (wrapping sequence numbers,
reordering, repeats, packets too far behind, jumps, CSRCs, header
extensions, empty and full-size payloads) go through a native sink built on
gcm.c and through one pylibsrtp session per connection with the same key,
window and repeat rule: every datagram must be the same bytes, and a packet
libsrtp refuses must be dropped (and counted) by the sink too.
"""

from __future__ import annotations

import os
import random
import struct

import pytest
from pylibsrtp import Error, Policy, Session

import sfu.native as native
from sfu.rtc.srtp import OUTBOUND_WINDOW

from .loopback import PROFILES, udp_socket

pytestmark = pytest.mark.skipif(not native.OWN_GCM, reason="built without OpenSSL (or CALLSFU_SRTP=libsrtp)")


def windowed(profile: str, key: bytes) -> Policy:
    policy = Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILES[profile][0])
    policy.allow_repeat_tx = True
    policy.window_size = OUTBOUND_WINDOW
    return policy


def packets(rng: random.Random, count: int) -> list[bytes]:
    ssrcs = [rng.getrandbits(32) for _ in range(3)]
    seqs = {s: rng.choice([0, 1, 0x7FFF, 0x8000, 0x8001, 65500, rng.getrandbits(16)]) for s in ssrcs}
    out = []
    for _ in range(count):
        ssrc = rng.choice(ssrcs)
        r = rng.random()
        if r < 0.70:
            seqs[ssrc] = (seqs[ssrc] + 1) & 0xFFFF
            seq = seqs[ssrc]
        elif r < 0.80:
            seq = (seqs[ssrc] - rng.randint(0, 10)) & 0xFFFF  # reordered, or a repeat
        elif r < 0.88:
            seq = (seqs[ssrc] - rng.randint(OUTBOUND_WINDOW - 3, OUTBOUND_WINDOW + 3)) & 0xFFFF  # the window's edge
        elif r < 0.97:
            seqs[ssrc] = (seqs[ssrc] + rng.randint(2, 300)) & 0xFFFF  # after a loss burst
            seq = seqs[ssrc]
        else:  # wild: half a cycle and more either way (libsrtp's guess of the rollover counter)
            seq = (seqs[ssrc] + rng.choice([-40000, -32768, -32767, 32767, 32768, 40000])) & 0xFFFF
            if rng.random() < 0.5:
                seqs[ssrc] = seq
        cc = rng.choice([0, 0, 0, 1, 3])
        first = 0x80 | cc | (0x10 if rng.random() < 0.6 else 0) | (0x20 if rng.random() < 0.05 else 0)
        header = struct.pack("!BBHII", first, rng.choice([96, 97, 111 | 0x80]), seq, rng.getrandbits(32), ssrc)
        header += os.urandom(4 * cc)
        if first & 0x10:
            words = rng.choice([0, 1, 2, 5])
            header += struct.pack("!HH", 0xBEDE, words) + os.urandom(4 * words)
        out.append(header + os.urandom(rng.choice([0, 1, 15, 16, 17, 160, 1100, native._fanout.MAX_PACKET - len(header)])))
    return out


@pytest.mark.parametrize("profile", ["AEAD_AES_128_GCM", "AEAD_AES_256_GCM"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_datagrams_and_refusals_as_libsrtp(profile: str, seed: int) -> None:
    rng = random.Random(seed)
    key = bytes(rng.getrandbits(8) for _ in range(PROFILES[profile][1]))
    sender, receiver = udp_socket(), udp_socket()
    sink = native.new_sink(sender, receiver.getsockname(), windowed(profile, key))
    reference = Session(windowed(profile, key))
    assert sink.protection == "gcm"
    refused = sent = 0
    try:
        for packet in packets(rng, 3000):
            try:
                expected: bytes | None = reference.protect(packet)
            except Error:
                expected = None
            failed = sink.failed
            sink.send(packet)
            if expected is None:
                refused += 1
                assert sink.failed == failed + 1, packet[:12].hex()
                continue
            sent += 1
            assert sink.failed == failed, packet[:12].hex()
            assert receiver.recv(2048) == expected, packet[:12].hex()
    finally:
        sink.close()
        sender.close()
        receiver.close()
    print(f"{profile} seed {seed}: {sent} sent, {refused} refused")
    assert refused > 100 and sent > 1500, (refused, sent)  # both branches were exercised
    assert sink.sent == sent


def test_other_profiles_and_windows_stay_with_libsrtp() -> None:
    sender = udp_socket()
    cm = Policy(key=os.urandom(30), ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILES["AES128_CM_SHA1_80"][0])
    cm.allow_repeat_tx, cm.window_size = True, OUTBOUND_WINDOW
    wide = windowed("AEAD_AES_128_GCM", os.urandom(28))
    wide.window_size = 1024
    try:
        for policy in (cm, wide):
            sink = native.new_sink(sender, ("127.0.0.1", 9), policy)
            assert sink.protection == "libsrtp"
            sink.close()
    finally:
        sender.close()


def test_a_bad_master_key_length_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="28 or 44 bytes"):
        native._fanout.gcm_policy(bytes(30))
