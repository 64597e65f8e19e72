"""Security headers on every response, pages and API alike.

Pages (``/``, ``/call/TOKEN``) get a strict Content-Security-Policy: scripts
and styles only from ``/static/`` (no inline script, no ``eval``), fetches
only to this server, WebSockets only to this server's ``ws_url`` base (or,
with a shared store, to another node hosting the call), and nobody may frame
them (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``), so no other
site can embed a call page with ``?autojoin=1``. Everything else (JSON,
scripts, the favicon) gets ``default-src 'none'``. ``Referrer-Policy:
no-referrer`` everywhere: a call URL carries its token. Under TLS, HSTS.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from control.config import Config

HSTS = "max-age=31536000"
NOT_A_PAGE_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def page_csp(config: Config) -> str:
    ws = urlsplit(config.ws_base_url)
    connect = ["'self'", f"{ws.scheme}://{ws.netloc}"]
    if config.store and not config.store.startswith("sqlite"):
        connect.append(f"{ws.scheme}:")  # a call may live on another node (its own --public-url)
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "media-src 'self' blob: mediastream:",
            "connect-src " + " ".join(connect),
            "manifest-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _is_page(response: web.StreamResponse) -> bool:
    return response.content_type == "text/html"


def add_security_headers(app: web.Application, config: Config) -> None:
    """Set the headers on every response as it is prepared (errors included)."""

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Content-Security-Policy", page_csp(config) if _is_page(response) else NOT_A_PAGE_CSP)
        if request.secure:
            headers.setdefault("Strict-Transport-Security", HSTS)

    app.on_response_prepare.append(on_prepare)
