"""JSON errors: every failure is ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from aiohttp import web

log = logging.getLogger("callsfu.control")

STATUS: dict[str, int] = {
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "e2ee_required": 403,
    "call_not_e2ee": 403,
    "link_not_found": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "call_full": 409,
    "link_expired": 410,
    "link_revoked": 410,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "internal_error": 500,
}


class ApiError(Exception):
    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = STATUS[code]
        self.headers = headers or {}


def error_response(code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=STATUS[code], headers=headers
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.code == "unauthorized" else {}
        return error_response(exc.code, exc.message, {**headers, **exc.headers})
    except web.HTTPNotFound:
        return error_response(
            "not_found", f"There is no {request.method} {request.path} here; see /api/openapi.json."
        )
    except web.HTTPMethodNotAllowed as exc:
        return error_response(
            "method_not_allowed",
            f"{request.method} is not allowed on {request.path}; use "
            + ", ".join(sorted(exc.allowed_methods))
            + ".",
            {"Allow": ",".join(sorted(exc.allowed_methods))},
        )
    except web.HTTPRequestEntityTooLarge:
        return error_response("payload_too_large", "The request body is too large.")
    except web.HTTPException:
        raise
    except Exception:
        # the route's pattern, not the path: a path carries a link token or a join ticket
        resource = request.match_info.route.resource
        log.exception("unhandled error on %s %s", request.method, resource.canonical if resource is not None else "?")
        return error_response("internal_error", "Something went wrong on the server; try again.")
