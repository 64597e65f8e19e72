"""aiortc-side helpers for cross-checking sfu.core against an independent parser."""

from __future__ import annotations

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AST_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
TCC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"


def extensions_map(pairs: list[tuple[int, str]]) -> HeaderExtensionsMap:
    """An aiortc HeaderExtensionsMap for the negotiated (id, uri) pairs."""
    ext_map = HeaderExtensionsMap()
    ext_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=ext_id, uri=uri) for ext_id, uri in pairs
            ]
        )
    )
    return ext_map
