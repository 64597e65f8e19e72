"""Who may manage links (create, revoke)."""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from control.errors import ApiError

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNSPECIFIED = {"", "0.0.0.0", "::"}


def is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def check_manage(
    remote: str | None, authorization: str | None, api_key: str | None, what: str = "create or revoke links"
) -> None:
    """Raise ApiError unless this caller may create or revoke links (or do ``what``).

    With an API key configured, the caller must send ``Authorization: Bearer KEY``.
    Without one, only loopback callers may manage (the operator on the box).
    """
    if api_key is None:
        if not is_loopback(remote):
            raise ApiError(
                "forbidden",
                f"Only this machine may {what} because the server has no"
                " --api-key; start it with --api-key and send 'Authorization: Bearer KEY'.",
            )
        return
    if not authorization:
        raise ApiError(
            "unauthorized",
            f"To {what} you need the header 'Authorization: Bearer KEY'"
            " with the server's API key.",
        )
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError("unauthorized", "The Authorization header must read 'Bearer KEY'.")
    if not hmac.compare_digest(key.strip().encode(), api_key.encode()):
        raise ApiError("forbidden", "That API key is wrong; check the server's --api-key.")


def _split_authority(authority: str) -> tuple[str, int | None] | None:
    """``host[:port]`` (``[v6]:port`` too) → (lower-case host, port), None if malformed."""
    try:
        parts = urlsplit("//" + authority)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    return host.rstrip("."), port


def _local_name(host: str) -> bool:
    """Names that can only mean this machine: DNS rebinding cannot point them elsewhere."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RequestTarget:
    """Host/Origin check for link management without an API key.

    Without ``--api-key`` the manage API trusts loopback callers. A page in a
    browser on the server's machine is a loopback caller too: through DNS
    rebinding (``evil.example`` resolving to 127.0.0.1) it would reach this
    API as same-origin. So such requests must also be addressed to the server
    by a name that cannot be rebound (``localhost``, a loopback address) or by
    one the operator configured (``--host``, ``--public-url``), and a browser's
    ``Origin``, when sent, must be that same origin or the public URL's.
    """

    def __init__(self, host: str, public_url: str | None, base_url: str) -> None:
        self.base_url = base_url
        self.names: set[str] = set()
        if host.lower() not in _UNSPECIFIED:
            self.names.add(host.lower().strip("[]"))
        self.public_origin: tuple[str, str, int] | None = None
        if public_url:
            parts = urlsplit(public_url)
            if parts.hostname and parts.scheme in _DEFAULT_PORTS:
                self.names.add(parts.hostname.rstrip("."))
                port = parts.port or _DEFAULT_PORTS[parts.scheme]
                self.public_origin = (parts.scheme, parts.hostname.rstrip("."), port)

    def _refuse(self, what: str) -> ApiError:
        return ApiError(
            "forbidden",
            f"Links are managed without --api-key only by requests addressed to this machine; {what}."
            f" Open {self.base_url}/ (or localhost), or start the server with --api-key.",
        )

    def check(self, host_header: str | None, origin: str | None) -> None:
        host: tuple[str, int | None] | None = None
        if host_header is not None:
            host = _split_authority(host_header.strip())
            if host is None or not (_local_name(host[0]) or host[0] in self.names):
                raise self._refuse(f"this one was sent to '{host_header[:100]}'")
        if origin is None:
            return  # not from a browser page (curl, the CLI, scripts)
        parts = urlsplit(origin.strip())
        scheme, name = parts.scheme, parts.hostname
        try:
            port = parts.port
        except ValueError:
            name = None
        if not name or scheme not in _DEFAULT_PORTS or origin.strip().lower() == "null":
            raise self._refuse(f"it comes from a page of origin '{origin[:100]}'")
        theirs = (scheme, name.rstrip("."), port or _DEFAULT_PORTS[scheme])
        same = host is not None and (host[0], host[1] or _DEFAULT_PORTS[scheme]) == theirs[1:]
        if not same and theirs != self.public_origin:
            raise self._refuse(f"it comes from another site's page ('{origin[:100]}')")
