"""STUN messages a test sends to the SFU's UDP port by hand."""

from __future__ import annotations

from aioice import stun


def binding_request(username: str, password: str) -> bytes:
    """An ICE connectivity check (RFC 8445 7.1.1) signed with ``password``."""
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    request.attributes["USERNAME"] = username
    request.attributes["PRIORITY"] = 1
    request.attributes["ICE-CONTROLLING"] = 1
    request.add_message_integrity(password.encode())
    request.add_fingerprint()
    return bytes(request)
