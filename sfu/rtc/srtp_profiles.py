"""Which SRTP profile a connection uses: prefer AEAD_AES_128_GCM, log the outcome.

aiortc offers AEAD_AES_256_GCM, AEAD_AES_128_GCM, AES128_CM_SHA1_80, in that
order. In DTLS-SRTP the server picks (OpenSSL: its own first profile the
client also offers). The SFU is the DTLS server of the subscribe connections,
which carry the fan-out (it offers ``actpass``; browsers and aiortc answer
``active``), so there its order decides. Protecting a 1124-byte packet
(``benchmarks/hotpath.py --profiles``, benchmarks/README.md) costs about
0.7 µs more with AES128_CM_SHA1_80 than with either GCM profile; AES-128-GCM
and AES-256-GCM are the same within noise on this machine (AES-NI: the
GHASH, not the AES rounds, dominates), and AES-128's 10 rounds against 14
make it the cheaper one wherever the rounds do count. Hence AES-128-GCM
first; the other two stay offered, so every peer that worked before still
does (checked with Chromium, Firefox ESR and aiortc). On publish connections the SFU is the DTLS
client and the browser chooses (Chromium prefers AES128_CM_SHA1_80 there).
"""

from __future__ import annotations

import logging

import aiortc.rtcdtlstransport as dtls_module
from aiortc.rtcdtlstransport import RTCDtlsTransport

log = logging.getLogger("callsfu.sfu")

PREFERENCE = [b"SRTP_AEAD_AES_128_GCM", b"SRTP_AEAD_AES_256_GCM", b"SRTP_AES128_CM_SHA1_80"]

_original_setup = RTCDtlsTransport._setup_srtp


def _setup_srtp(self: RTCDtlsTransport) -> None:
    _original_setup(self)
    if self._tx_srtp is not None:
        profile = self._ssl.get_selected_srtp_profile()
        log.info("DTLS up as %s: SRTP profile %s", self._role, profile.decode(errors="replace"))


def install() -> None:
    """Reorder aiortc's profile list in place (every transport shares it) and log each negotiation."""
    rank = {name: i for i, name in enumerate(PREFERENCE)}
    dtls_module.SRTP_PROFILES.sort(key=lambda p: rank.get(p.openssl_profile, len(rank)))
    RTCDtlsTransport._setup_srtp = _setup_srtp  # type: ignore[method-assign]
