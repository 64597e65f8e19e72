"""The error every signaling refusal raises (its code and sentence go back to the client)."""

from __future__ import annotations

__all__ = ["SignalingError"]


class SignalingError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
