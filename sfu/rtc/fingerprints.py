"""Cache DTLS certificate fingerprints.

aiortc recomputes three digests of its certificate for every m-section of
every SDP it writes; with 31 sections per subscriber and a re-offer to
everyone on each join, that was ~8% of the SFU's CPU during a join storm.
A certificate never changes, so its fingerprints are computed once.
"""

from __future__ import annotations

from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsFingerprint

_original = RTCCertificate.getFingerprints


def _cached(self: RTCCertificate) -> list[RTCDtlsFingerprint]:
    cached: list[RTCDtlsFingerprint] | None = getattr(self, "_callsfu_fingerprints", None)
    if cached is None:
        cached = _original(self)
        self._callsfu_fingerprints = cached  # type: ignore[attr-defined]
    return list(cached)


def install() -> None:
    RTCCertificate.getFingerprints = _cached  # type: ignore[method-assign]
