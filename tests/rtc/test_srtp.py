"""The lean SRTP protect gives libsrtp's exact bytes, and a receiver accepts them."""

from __future__ import annotations

import asyncio
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


async def test_outbound_policy_is_the_connections_own_outbound_key() -> None:
    """Two real aiortc peers on loopback: a session made from outbound_policy
    writes the bytes the transport's own _tx_srtp writes, and the other end
    accepts them; before DTLS is up, a precise ValueError."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    from sfu.rtc.ice import use_host_addresses
    from sfu.rtc.srtp import outbound_policy

    use_host_addresses(["127.0.0.1"])
    offerer, answerer = (RTCPeerConnection(RTCConfiguration(iceServers=[])) for _ in range(2))
    try:
        offerer.addTransceiver("audio")
        await offerer.setLocalDescription(await offerer.createOffer())
        with pytest.raises(ValueError, match="no outbound SRTP keying material"):
            outbound_policy(offerer.getTransceivers()[0].sender.transport)
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)
        for _ in range(500):
            if offerer.connectionState == answerer.connectionState == "connected":
                break
            await asyncio.sleep(0.01)
        transports = [pc.getTransceivers()[0].sender.transport for pc in (offerer, answerer)]
        assert {t._role for t in transports} == {"client", "server"}
        for ours, theirs in (transports, transports[::-1]):
            policy = outbound_policy(ours)
            policy.ssrc_value = 0xC0FFEE
            session = Session(policy)
            for seq in (1, 2, 3):
                packet = struct.pack("!BBHII", 0x80, 96, seq, seq * 960, 0xC0FFEE) + os.urandom(100)
                protected = session.protect(packet)
                assert protected == ours._tx_srtp.protect(packet)
                assert theirs._rx_srtp.unprotect(protected) == packet
    finally:
        await offerer.close()
        await answerer.close()
