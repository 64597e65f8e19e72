"""The native fan-out: a C extension for the per-packet-per-subscriber loop.

``_fanout`` (sfu/native/fanout.c, rewriter.c) is built by ``pip install`` from
these sources with the machine's compiler. When it could not be built,
`AVAILABLE` is False, `BUILD_ERROR` says why, and callsfu forwards on the
pure-Python path (``sfu.core.rewriter.Rewriter`` and ``sfu.rtc.sink``), which
stays the reference the native code is tested against byte for byte.

- `Rewriter`: drop-in for ``sfu.core.rewriter.Rewriter`` (sfu/native/rewriter.py);
- `new_sink`: a native ``Sink`` from a socket, a destination and the
  connection's outbound SRTP policy (a pylibsrtp Policy: key and profile); it
  keeps one libsrtp session per SSRC it sends on, or for the AES-GCM profiles
  one stream of its own (gcm.c, on OpenSSL: `OWN_GCM`);
- `FanoutGroup`: ``forward(view, abs_send_time)`` rewrites and protects one
  packet for every (Rewriter, Sink) pair added to it and sends them all with
  one ``sendmmsg``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AVAILABLE", "BATCH", "BUILD_ERROR", "MAX_STREAMS", "OWN_GCM", "FanoutGroup", "Rewriter", "Sink", "new_sink"]

import os

try:
    from sfu.native import _fanout
except ImportError as exc:  # not built: the pure-Python path is used
    AVAILABLE = False
    BUILD_ERROR = f"{exc}"
    OWN_GCM = False
else:
    AVAILABLE = True
    BUILD_ERROR = ""
    from sfu.native._fanout import BATCH, GCM_WINDOW, MAX_STREAMS, FanoutGroup, Sink
    from sfu.native.rewriter import Rewriter

    # AES-GCM streams of our own (gcm.c) when built with OpenSSL, unless
    # CALLSFU_SRTP=libsrtp asks for libsrtp's (benchmarks compare the two)
    OWN_GCM = GCM_WINDOW > 0 and os.environ.get("CALLSFU_SRTP", "").strip().lower() != "libsrtp"

    def new_sink(sock: Any, addr: tuple[Any, ...], policy: Any) -> Sink:
        """A native Sink sending through a duplicate of ``sock``'s descriptor to
        ``addr`` (host, port), protecting each SSRC's RTP with a libsrtp session
        of its own made from ``policy`` (a pylibsrtp Policy with the
        connection's outbound key and profile; the sink takes it over and keeps
        it alive). ValueError/OSError when that cannot be done."""
        from pylibsrtp import Policy
        from pylibsrtp._binding import ffi, lib  # pylibsrtp is pinned exactly

        if not isinstance(policy, Policy) or policy.key is None:
            raise ValueError(f"a Sink needs a pylibsrtp 1.0 Policy with a key, not {type(policy).__name__}")
        gcm = (Policy.SRTP_PROFILE_AEAD_AES_128_GCM, Policy.SRTP_PROFILE_AEAD_AES_256_GCM)
        if OWN_GCM and policy.srtp_profile in gcm and policy.window_size == GCM_WINDOW and policy.allow_repeat_tx:
            return Sink(sock.fileno(), str(addr[0]), int(addr[1]), _fanout.gcm_policy(policy.key), 0, 0, 0, 0)
        policy.ssrc_type = Policy.SSRC_SPECIFIC  # the sink sets the SSRC of each session it makes
        pointers = [int(ffi.cast("uintptr_t", p)) for p in (
            policy._policy, ffi.addressof(lib, "srtp_create"), ffi.addressof(lib, "srtp_dealloc"),
            ffi.addressof(lib, "srtp_protect"))]  # fmt: skip
        return Sink(sock.fileno(), str(addr[0]), int(addr[1]), policy, *pointers)
