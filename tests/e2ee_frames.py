"""The E2EE frame format of docs/protocol.md ("End-to-end encrypted calls") in
Python: the tests' independent reference of what e2ee-worker.js does, used to
read what browsers send and to be an aiortc participant that encrypts.

    frame = prefix (n) | AES-256-GCM(rest, AAD = prefix) with its tag | CTR (4) | KID (8) | n (1)
    key   = HKDF-SHA-256(link key, salt "callsfu e2ee v1", info "callsfu frame key" | KID)
    IV    = KID | CTR
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SALT = b"callsfu e2ee v1"
TRAILER = 13


def new_key() -> str:
    """A link key as it goes after ``#key=``."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def raw(key: str) -> bytes:
    return base64.urlsafe_b64decode(key + "=")


def hkdf(key: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=SALT, info=info).derive(key)


def safety_code(key: str) -> str:
    digits = f"{int.from_bytes(hkdf(raw(key), b'callsfu safety code', 4), 'big') % 1_000_000:06d}"
    return f"{digits[:3]} {digits[3:]}"


def clear_bytes(kind: str, data: bytes) -> int:
    if kind != "video" or not data:
        return 0
    return min(len(data), 10 if data[0] & 0x01 == 0 else 3)


@dataclass
class FrameSealer:
    """One sending track: its random key id and frame counter."""

    key: bytes
    kid: bytes = field(default_factory=lambda: secrets.token_bytes(8))
    ctr: int = 0

    def seal(self, kind: str, data: bytes) -> bytes:
        n = clear_bytes(kind, data)
        ctr = self.ctr.to_bytes(4, "big")
        self.ctr += 1
        sealed = AESGCM(hkdf(self.key, b"callsfu frame key" + self.kid, 32)).encrypt(self.kid + ctr, data[n:], data[:n])
        return data[:n] + sealed + ctr + self.kid + bytes([n])


def open_frame(key: bytes, data: bytes) -> bytes:
    """The plain frame; raises (cryptography's InvalidTag, ValueError) when it does not authenticate."""
    if len(data) < TRAILER + 16:
        raise ValueError(f"a frame of {len(data)} bytes is too short to be encrypted")
    n, end = data[-1], len(data) - TRAILER
    ctr, kid = data[end : end + 4], data[end + 4 : end + 12]
    return data[:n] + AESGCM(hkdf(key, b"callsfu frame key" + kid, 32)).decrypt(kid + ctr, data[n:end], data[:n])
