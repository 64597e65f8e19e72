"""Who may manage links (create, revoke)."""

from __future__ import annotations

import hmac
import ipaddress

from control.errors import ApiError


def is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def check_manage(remote: str | None, authorization: str | None, api_key: str | None) -> None:
    """Raise ApiError unless this caller may create or revoke links.

    With an API key configured, the caller must send ``Authorization: Bearer KEY``.
    Without one, only loopback callers may manage (the operator on the box).
    """
    if api_key is None:
        if not is_loopback(remote):
            raise ApiError(
                "forbidden",
                "Only this machine may create or revoke links because the server has no"
                " --api-key; start it with --api-key and send 'Authorization: Bearer KEY'.",
            )
        return
    if not authorization:
        raise ApiError(
            "unauthorized",
            "Creating and revoking links needs the header 'Authorization: Bearer KEY'"
            " with the server's API key.",
        )
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError("unauthorized", "The Authorization header must read 'Bearer KEY'.")
    if not hmac.compare_digest(key.strip().encode(), api_key.encode()):
        raise ApiError("forbidden", "That API key is wrong; check the server's --api-key.")
