"""The lean SRTP protect gives libsrtp's exact bytes, and a receiver accepts them."""

from __future__ import annotations

import os
import struct

import pytest
from pylibsrtp import Policy, Session

from sfu.rtc.srtp import lean_protect


def sessions(key: bytes, direction: int) -> Session:
    return Session(policy=Policy(key=key, ssrc_type=direction, srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80))


def test_lean_protect_matches_pylibsrtp_and_unprotects() -> None:
    key = os.urandom(30)
    public, lean_session = sessions(key, Policy.SSRC_ANY_OUTBOUND), sessions(key, Policy.SSRC_ANY_OUTBOUND)
    receiver = sessions(key, Policy.SSRC_ANY_INBOUND)
    protect = lean_protect(lean_session)
    assert protect is not lean_session.protect  # the lean path is in use
    for seq in range(500):
        packet = struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, 0xCAFE) + os.urandom(seq % 1200 + 1)
        out = protect(packet)
        assert out == public.protect(packet)
        assert receiver.unprotect(out) == packet


def test_too_long_is_a_value_error_and_the_session_still_works() -> None:
    session = sessions(os.urandom(30), Policy.SSRC_ANY_OUTBOUND)
    protect = lean_protect(session)
    with pytest.raises(ValueError):
        protect(struct.pack("!BBHII", 0x80, 96, 1, 1, 1) + bytes(10_000))
    assert len(protect(struct.pack("!BBHII", 0x80, 96, 2, 2, 1) + bytes(100))) == 12 + 100 + 10


def test_falls_back_to_the_public_method() -> None:
    class Plain:
        def protect(self, packet: bytes) -> bytes:
            return packet[::-1]

    plain = Plain()
    assert lean_protect(plain)(b"abc") == b"cba"
