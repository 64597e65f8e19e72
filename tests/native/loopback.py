"""Real subscribers on loopback for the fan-out tests: a UDP socket that
receives, a pylibsrtp session pair with a fresh key, and the native Sink that
sends to it through one shared sending socket (as the UDP mux has).

The native sink protects each SSRC with a session of its own; ``reference``
is what aiortc does, one pylibsrtp session for the whole connection: every
datagram must be the bytes that session would have sent."""

from __future__ import annotations

import os
import socket
from typing import Any

from pylibsrtp import Policy, Session

import sfu.native as native
from sfu.rtc.srtp import OUTBOUND_WINDOW

PROFILES = {  # libsrtp profile: master key + salt length
    "AES128_CM_SHA1_80": (Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    "AEAD_AES_128_GCM": (Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
    "AEAD_AES_256_GCM": (Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 44),
}


def policy(profile: str, key: bytes, direction: int) -> Policy:
    made = Policy(key=key, ssrc_type=direction, srtp_profile=PROFILES[profile][0])
    made.allow_repeat_tx = True  # as aiortc sets them
    made.window_size = OUTBOUND_WINDOW  # as the SFU's sinks have it: AES-GCM runs on sfu/native/gcm.c
    return made


def session(profile: str, key: bytes, direction: int) -> Session:
    return Session(policy(profile, key, direction))


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


class Receiver:
    """One subscriber's end: what arrives, unprotected."""

    def __init__(self, sender: socket.socket, profile: str = "AEAD_AES_128_GCM") -> None:
        key = os.urandom(PROFILES[profile][1])
        self.socket = udp_socket()
        self.rx = session(profile, key, Policy.SSRC_ANY_INBOUND)
        self.reference = session(profile, key, Policy.SSRC_ANY_OUTBOUND)
        self.sink: Any = native.new_sink(sender, self.socket.getsockname(), policy(profile, key, Policy.SSRC_ANY_OUTBOUND))

    def drain(self) -> list[bytes]:
        """What arrived, unprotected, after checking each datagram is the
        reference session's exact SRTP bytes for it."""
        out = []
        while True:
            try:
                data = self.socket.recv(4096)
            except BlockingIOError:
                return out
            plain = self.rx.unprotect(data)
            assert data == self.reference.protect(plain)
            out.append(plain)

    def native_sink(self) -> Any:
        """What sfu.rtc.sink.TransportSink offers the fan-out group."""
        return self.sink

    def send(self, packet: bytes) -> None:
        """The Python path's send, as TransportSink's on the native path."""
        self.sink.send(packet)

    def close(self) -> None:
        self.sink.close()
        self.socket.close()
