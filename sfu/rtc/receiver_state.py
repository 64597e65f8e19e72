"""Drop the receive-path state aiortc builds in every ``RTCRtpReceiver``.

aiortc gives each receiver, at construction, a jitter buffer, a NACK
generator and a remote bitrate estimator (~25 KB for video, mostly the
estimator's rate buckets). The SFU never runs that path: publishers' packets
go to the ingress (``sfu/rtc/ingress.py`` replaces ``receive()``), and the
receivers of subscriber-side sections never receive at all. In a 32-person
video call that is ~2,000 receivers, ~50 MB of state nothing reads.
"""

from __future__ import annotations

from aiortc.rtcrtpreceiver import RTCRtpReceiver

_UNUSED = (
    "_RTCRtpReceiver__jitter_buffer",
    "_RTCRtpReceiver__nack_generator",
    "_RTCRtpReceiver__remote_bitrate_estimator",
)


def drop_receive_path(receiver: RTCRtpReceiver) -> None:
    """Release what only aiortc's own receive path would use (aiortc is pinned)."""
    for name in _UNUSED:
        if hasattr(receiver, name):
            setattr(receiver, name, None)
