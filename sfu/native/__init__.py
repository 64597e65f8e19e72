"""The native fan-out: a C extension for the per-packet-per-subscriber loop.

``_fanout`` (sfu/native/fanout.c, rewriter.c) is built by ``pip install`` from
these sources with the machine's compiler. When it could not be built,
`AVAILABLE` is False, `BUILD_ERROR` says why, and callsfu forwards on the
pure-Python path (``sfu.core.rewriter.Rewriter`` and ``sfu.rtc.sink``), which
stays the reference the native code is tested against byte for byte.

- `Rewriter`: drop-in for ``sfu.core.rewriter.Rewriter`` (sfu/native/rewriter.py);
- `new_sink`: a native ``Sink`` from a socket, a destination and a pylibsrtp Session;
- `FanoutGroup`: ``forward(view, abs_send_time)`` rewrites, protects and sends
  one packet to every (Rewriter, Sink) pair added to it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AVAILABLE", "BUILD_ERROR", "FanoutGroup", "Rewriter", "Sink", "new_sink"]

try:
    from sfu.native import _fanout
except ImportError as exc:  # not built: the pure-Python path is used
    AVAILABLE = False
    BUILD_ERROR = f"{exc}"
else:
    AVAILABLE = True
    BUILD_ERROR = ""
    from sfu.native._fanout import FanoutGroup, Sink
    from sfu.native.rewriter import Rewriter

    def new_sink(sock: Any, addr: tuple[Any, ...], session: Any) -> Sink:
        """A native Sink sending through a duplicate of ``sock``'s descriptor to
        ``addr`` (host, port), protecting with ``session`` (a pylibsrtp Session,
        kept alive by the sink). ValueError/OSError when that cannot be done."""
        from pylibsrtp._binding import ffi, lib  # pylibsrtp is pinned exactly

        try:
            ctx = int(ffi.cast("uintptr_t", session._srtp[0]))
        except (AttributeError, TypeError) as exc:
            raise ValueError(f"not a pylibsrtp 1.0 Session: {exc}") from None
        protect = int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_protect")))
        return Sink(sock.fileno(), str(addr[0]), int(addr[1]), session, ctx, protect)
