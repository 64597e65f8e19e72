"""SRTP protect without pylibsrtp's per-call wrapper overhead.

``pylibsrtp.Session.protect`` allocates a length cell with cffi and checks
its arguments on every call; per forwarded packet per subscriber that is
about 1 µs of the 3.5 µs protect costs here. This calls libsrtp's
``srtp_protect`` on the session's own buffers with a length cell allocated
once. It relies on pylibsrtp's private attributes (pinned exactly in
pyproject.toml, like aiortc) and falls back to the public method when they
are not there.
"""

from __future__ import annotations

from typing import Any, Callable

SRTP_MAX_TRAILER_LEN = 16 + 128  # libsrtp: SRTP_MAX_TAG_LEN + SRTP_MAX_MKI_LEN
# The native sessions' replay window (packets). On a sending session libsrtp
# only uses it to refuse a packet further behind the newest than the window,
# and shifts the whole window on every packet sent: 1024 (aiortc's) cost
# 0.2-0.4 of 3.7 us per datagram in benchmarks.hotpath_meeting. The one packet
# an outgoing SSRC sends that far behind is a publisher's repair (RTX) that
# fills a hole; 128 packets is 3.5 s of a 300 kbit/s video, 0.5 s at
# 2.5 Mbit/s, longer than a receiver waits for a repair.
OUTBOUND_WINDOW = 128


def lean_protect(session: Any) -> Callable[[bytes], bytes]:
    try:
        from pylibsrtp._binding import ffi, lib

        srtp, cdata, buffer = session._srtp[0], session._cdata, session._buffer
    except (ImportError, AttributeError):
        protect: Callable[[bytes], bytes] = session.protect
        return protect
    srtp_protect = lib.srtp_protect
    length = ffi.new("int *")
    limit = len(cdata) - SRTP_MAX_TRAILER_LEN
    fallback = session.protect

    def protect_packet(packet: bytes) -> bytes:
        n = len(packet)
        if n > limit:
            return bytes(fallback(packet))  # raises its precise ValueError
        length[0] = n
        buffer[0:n] = packet
        if srtp_protect(srtp, cdata, length):
            raise ValueError("srtp_protect failed")
        result: bytes = buffer[0 : length[0]]
        return result

    return protect_packet


def outbound_policy(dtls: Any) -> Any:
    """A fresh pylibsrtp Policy with the key and profile of ``dtls``'s outbound
    SRTP (what aiortc's ``_tx_srtp`` was made from): the same DTLS keying
    material exported again, split as ``RTCDtlsTransport._setup_srtp`` splits
    it. The native sink makes one session per SSRC from it. ValueError when
    the transport has no negotiated profile or no TLS object (any more)."""
    from pylibsrtp import Policy

    try:
        ssl = dtls._ssl
        selected = ssl.get_selected_srtp_profile()
        profile = next(p for p in dtls._srtp_profiles if p.openssl_profile == selected)
        material = ssl.export_keying_material(b"EXTRACTOR-dtls_srtp", 2 * (profile.key_length + profile.salt_length))
    except (AttributeError, StopIteration, TypeError) as exc:
        raise ValueError(f"no outbound SRTP keying material on this DTLS transport: {exc!r}") from None
    except Exception as exc:  # OpenSSL.SSL.Error: the connection is gone
        raise ValueError(f"cannot export the DTLS keying material: {exc!r}") from None
    key = profile.get_key_and_salt(material, 1 if dtls._role == "server" else 0)
    policy = Policy(key=key, ssrc_type=Policy.SSRC_SPECIFIC, srtp_profile=profile.libsrtp_profile)
    policy.allow_repeat_tx = True  # as aiortc sets its own
    policy.window_size = OUTBOUND_WINDOW
    return policy
