"""Drop the receive-path state aiortc builds in every ``RTCRtpReceiver``.

aiortc gives each receiver, at construction, a jitter buffer, a NACK
generator and a remote bitrate estimator (~25 KB for video, mostly the
estimator's rate buckets). The SFU never runs that path: publishers' packets
go to the ingress (``sfu/rtc/ingress.py`` replaces ``receive()``), and the
receivers of subscriber-side sections never receive at all. In a 32-person
video call that is ~2,000 receivers, ~50 MB of state nothing reads.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager

import aiortc.rtcrtpreceiver
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


_IDLE = (
    "_RTCRtpReceiver__decoder_error",  # a threading.Event: a Condition, its lock and deque
    "_RTCRtpReceiver__decoder_queue",  # a queue.Queue: three Conditions and a deque
    "_RTCRtpReceiver__rtcp_exited",  # asyncio.Events, a deque each
    "_RTCRtpReceiver__rtcp_started",
)


def drop_idle_receiver(receiver: RTCRtpReceiver) -> None:
    """Release, besides the receive-path state, what a receiver that is never
    started holds for its decoder thread and RTCP task: the receiver of a
    section the SFU only sends on (a subscriber's, a WHEP viewer's). aiortc
    touches them only once ``receive()`` started it (``stop()`` and
    ``_handle_disconnect`` look at ``__started`` and the decoder thread
    first); ~4.5 KB each, ~2,000 of them in a 32-person video call."""
    drop_receive_path(receiver)
    if getattr(receiver, "_RTCRtpReceiver__started", True):
        return  # (started after all: leave it whole)
    for name in _IDLE:
        if hasattr(receiver, name):
            setattr(receiver, name, None)


def _unused(*args: object, **kwargs: object) -> None:
    return None


# what a receiver finds as ``queue`` and ``threading`` while built: its decoder queue
# (three Conditions) and error flag (a fourth) come out None, as drop_idle_receiver
# leaves them; no Thread, so a decoder thread started anyway fails rather than hides
_NO_DECODER = types.SimpleNamespace(Queue=_unused, Event=_unused, Thread=None)


@contextmanager
def receivers_without_receive_path() -> Iterator[None]:
    """Build ``RTCRtpReceiver``s without that state in the first place.

    A video receiver's remote bitrate estimator alone is 1,000 rate buckets,
    allocated one by one: at 31 video sections per subscriber that was a
    tenth of the SFU's CPU in a join storm, spent on objects dropped at once;
    and each receiver's decoder queue and error flag are four threading
    Conditions. aiortc looks the three classes and the two modules up in its
    module at construction, so they are swapped there for the duration. Only
    around synchronous code (such as ``addTransceiver``): no other task may
    build a receiver meanwhile (a client peer in the same process needs its
    estimator for REMB)."""
    module = aiortc.rtcrtpreceiver
    saved = (module.JitterBuffer, module.NackGenerator, module.RemoteBitrateEstimator, module.queue, module.threading)
    module.JitterBuffer = module.NackGenerator = module.RemoteBitrateEstimator = _unused  # type: ignore[assignment,misc]
    module.queue = module.threading = _NO_DECODER  # type: ignore[assignment]
    try:
        yield
    finally:
        module.JitterBuffer, module.NackGenerator, module.RemoteBitrateEstimator = saved[:3]  # type: ignore[misc]
        module.queue, module.threading = saved[3:]
