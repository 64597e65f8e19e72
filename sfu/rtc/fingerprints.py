"""Offer one DTLS certificate fingerprint, computed once.

aiortc writes three fingerprints (sha-256, sha-384, sha-512) of its
certificate into every m-section of every SDP, recomputing the digests
each time. With 62 sections per subscriber that was ~8% of the SFU's CPU
during a join storm, and the three lines are 31 KB of a 73 KB offer (and
of the answer an aiortc peer sends back), written, sent and parsed on both
sides. A certificate never changes, so its fingerprint is computed once;
and only sha-256 is offered, as Chromium, Firefox and Janus offer theirs:
the one fingerprint algorithm every WebRTC endpoint checks. The remote
side's fingerprints are still all checked, as aiortc does.
"""

from __future__ import annotations

from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsFingerprint

__all__ = ["ALGORITHM", "install"]

ALGORITHM = "sha-256"

_original = RTCCertificate.getFingerprints


def _cached(self: RTCCertificate) -> list[RTCDtlsFingerprint]:
    cached: list[RTCDtlsFingerprint] | None = getattr(self, "_callsfu_fingerprints", None)
    if cached is None:
        cached = [f for f in _original(self) if f.algorithm == ALGORITHM]
        self._callsfu_fingerprints = cached  # type: ignore[attr-defined]
    return list(cached)


def install() -> None:
    RTCCertificate.getFingerprints = _cached  # type: ignore[method-assign]
