"""Which forwarding path runs, and the glue between the core and the native fan-out.

The native path (``sfu/native``, built by pip when a compiler is there) is the
default: one C call per received packet rewrites, SRTP-protects and sends it
to every outlet in the fast state. ``CALLSFU_FORWARDING=python`` (or
``callsfu serve --forwarding python``) forces the pure-Python path, which is
also what runs when the extension was not built. The choice is per process,
made once at start (:func:`choose`).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Callable, cast

import sfu.native as native
from sfu.core.packet import RtpView
from sfu.core.rewriter import Rewriter
from sfu.logcontext import about
from sfu.routing.forwarder import FastGroup

if TYPE_CHECKING:
    from sfu.rtc.sink import TransportSink

log = logging.getLogger("callsfu.sfu")

PATHS = ("native", "python")
_chosen: str | None = None


def choose(requested: str | None = None) -> str:
    """Fix the path for this process: ``requested`` (default: CALLSFU_FORWARDING,
    else native), python when the extension is missing. ValueError for an
    unknown name."""
    global _chosen
    name = (requested or os.environ.get("CALLSFU_FORWARDING") or "native").strip().lower()
    if name not in PATHS:
        raise ValueError(f"--forwarding must be one of {', '.join(PATHS)}, not {name!r}")
    _chosen = "native" if name == "native" and native.AVAILABLE else "python"
    return _chosen


def path() -> str:
    return _chosen or choose()


def native_enabled() -> bool:
    return path() == "native"


def describe() -> str:
    """For the log at start: which path runs, and why not native when it does not."""
    if native_enabled():
        return "native C fan-out (sendmmsg per packet, one SRTP session per outgoing SSRC)"
    if native.AVAILABLE:
        return "python (CALLSFU_FORWARDING=python)"
    return f"python (the native fan-out is not built: {native.BUILD_ERROR})"


def rewriter_class() -> type[Rewriter]:
    """The Rewriter for new subscriber slots: the native one is a drop-in
    (tests/native/test_differential.py)."""
    return cast("type[Rewriter]", native.Rewriter) if native_enabled() else Rewriter


class NativeGroup:
    """A :class:`~sfu.routing.forwarder.FastGroup` over ``sfu.native.FanoutGroup``:
    takes a pair when the rewriter is native and the sink has a native half."""

    __slots__ = ("_group", "forward")

    def __init__(self) -> None:
        self._group = native.FanoutGroup()
        self.forward: Callable[[RtpView, int], Any] = self._group.forward

    def add(self, rewriter: Any, sink: TransportSink) -> bool:
        fast = sink.native_sink()
        if fast is None or not isinstance(rewriter, native.Rewriter):
            log.debug("an outlet stays on the Python path (sink %s, rewriter %s)", fast, type(rewriter).__name__, extra=about(getattr(sink, "owner", None)))
            return False
        if not self._group.add(rewriter, fast):
            log.warning("an outlet stays on the Python path: its connection has no SRTP session for SSRC %d", rewriter.ssrc, extra=about(getattr(sink, "owner", None)))
            return False
        log.debug("fast group of %d", len(self._group), extra=about(getattr(sink, "owner", None)))
        return True

    def remove(self, rewriter: Any) -> None:
        self._group.remove(rewriter)

    def __len__(self) -> int:
        return len(self._group)


def group_factory() -> Callable[[], FastGroup[TransportSink]] | None:
    """What the call's Forwarder makes fast groups with; None on the Python path."""
    return NativeGroup if native_enabled() else None
