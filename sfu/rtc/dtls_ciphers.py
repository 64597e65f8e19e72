"""DTLS with peers whose certificate is RSA (GStreamer's webrtcbin, OBS...).

In DTLS 1.2 the cipher suite names the *server's* certificate type. aiortc's
context allows only ``ECDHE-ECDSA-*`` suites, which is enough while the SFU
is the DTLS server (its own certificate is ECDSA P-256), but when it is the
DTLS client, as on a publish connection whose offer says ``actpass`` and a
GStreamer 1.22 encoder holds an RSA certificate, the server finds no suite
the client allows and fails: "no shared cipher". The SFU therefore also
offers the ECDHE-RSA suites (forward-secret AEAD first, the same order as the
ECDSA ones). Its own certificate stays ECDSA, so where it is the server the
choice is unchanged: an ECDSA certificate can only serve ECDSA suites.
"""

from __future__ import annotations

from aiortc.rtcdtlstransport import RTCCertificate, SRTPProtectionProfile
from OpenSSL import SSL

ECDSA_SUITES = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
)  # aiortc's own list
RSA_SUITES = (
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-RSA-AES256-SHA",
)
CIPHER_LIST = ":".join(ECDSA_SUITES + RSA_SUITES).encode()

_original = RTCCertificate._create_ssl_context


def _create_ssl_context(self: RTCCertificate, srtp_profiles: list[SRTPProtectionProfile]) -> SSL.Context:
    ctx = _original(self, srtp_profiles)
    ctx.set_cipher_list(CIPHER_LIST)
    return ctx


def install() -> None:
    """Every DTLS context aiortc makes from now on offers the RSA suites too."""
    RTCCertificate._create_ssl_context = _create_ssl_context  # type: ignore[method-assign]
