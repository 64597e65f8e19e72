"""DTLS with a peer holding an RSA certificate (as GStreamer 1.22's webrtcbin does).

The RSA peer offers ``actpass``, so aiortc's answer makes the SFU side the
DTLS client and the RSA peer the server: the suite must be one its RSA
certificate can serve. With aiortc's own ECDSA-only list the handshake fails
("no shared cipher"); with ``sfu.rtc.dtls_ciphers`` installed it succeeds.
"""

from __future__ import annotations

import asyncio
from typing import Iterator

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.rtcdtlstransport import RTCCertificate, SRTPProtectionProfile, generate_certificate
from cryptography.hazmat.primitives.asymmetric import rsa
from OpenSSL import SSL

from sfu.rtc import dtls_ciphers
from sfu.rtc.ice import use_host_addresses

use_host_addresses(["127.0.0.1"])

RSA_ONLY = b"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA"


class RsaCertificate(RTCCertificate):
    """An RSA-2048 certificate whose context allows RSA suites only (what its key can serve)."""

    def _create_ssl_context(self, srtp_profiles: list[SRTPProtectionProfile]) -> SSL.Context:
        ctx = SSL.Context(SSL.DTLS_METHOD)
        ctx.set_options(SSL.OP_NO_TICKET)
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *args: True)
        ctx.use_certificate(self._cert)
        ctx.use_privatekey(self._key)
        ctx.set_cipher_list(RSA_ONLY)
        ctx.set_tlsext_use_srtp(b":".join(p.openssl_profile for p in srtp_profiles))
        return ctx


def rsa_peer() -> RTCPeerConnection:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc._RTCPeerConnection__certificates = [RsaCertificate(key, generate_certificate(key))]  # type: ignore[arg-type, attr-defined]
    return pc


@pytest.fixture
def stock_aiortc() -> Iterator[None]:
    """aiortc's own context (ECDSA suites only), whatever another test installed."""
    installed = RTCCertificate._create_ssl_context
    RTCCertificate._create_ssl_context = dtls_ciphers._original  # type: ignore[method-assign]
    yield
    RTCCertificate._create_ssl_context = installed  # type: ignore[method-assign]


async def handshake() -> tuple[str, str]:
    """The RSA peer offers (actpass: it becomes the DTLS server), a plain aiortc peer answers."""
    offerer, answerer = rsa_peer(), RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        offerer.createDataChannel("probe")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        assert "a=setup:active" in answerer.localDescription.sdp  # the answerer is the DTLS client
        await offerer.setRemoteDescription(answerer.localDescription)
        for _ in range(200):
            states = (offerer.connectionState, answerer.connectionState)
            if "failed" in states or states == ("connected", "connected"):
                break
            await asyncio.sleep(0.05)
        return offerer.connectionState, answerer.connectionState
    finally:
        await offerer.close()
        await answerer.close()


async def test_stock_aiortc_cannot_handshake_with_an_rsa_server(stock_aiortc: None) -> None:
    assert "failed" in await handshake()


async def test_with_the_rsa_suites_the_handshake_succeeds(stock_aiortc: None) -> None:
    dtls_ciphers.install()
    assert await handshake() == ("connected", "connected")
