"""WHIP (RFC 9725) and WHEP over HTTP: media in and out of a call without the call page.

- ``POST /whip/TOKEN[?name=NAME]``, an SDP offer as ``application/sdp`` →
  ``201`` with the answer, ``Location`` (the session's resource) and an
  ``ETag``. The publisher takes a seat like anyone joining (``409
  call_full``); the link is the credential (``404``/``410`` as everywhere).
  An end-to-end encrypted call refuses WHIP and WHEP (``403 e2ee_required``):
  neither can encrypt or decrypt with the key in the link's fragment.
- ``POST /whep/TOKEN``, a receive-only offer → ``201`` likewise; a viewer
  of the current speaker, no seat, at most ``--max-viewers`` per call.
- The ``201`` lists ``--ice-server`` STUN/TURN servers as ``Link`` headers
  (RFC 9725 4.6), TURN ones with credentials for this session.
- ``DELETE`` on the resource ends it (``200``); ``PATCH`` answers ``405``:
  no trickle ICE and no ICE restart, so every offer carries its candidates.
- With a shared store, a call's media lives on one node: a POST to another
  node answers ``307`` to the hosting node's same URL (RFC 9725 4.5).
- CORS: any origin may use these endpoints (the link in the path is what
  authorises, never a cookie), and may read ``Location``/``ETag``.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from control.api import CONFIG, LIMITER, LINKS
from control.errors import STATUS, ApiError
from control.ice_servers import ice_servers_for
from control.links import CALL_CLAIM_TTL
from control.store.base import LinkRecord
from control.tokens import token_hash
from control.validation import text_field
from sfu.admission import Admission, Refused
from sfu.endpoints import MediaEndpoints
from sfu.signaling.messages import SignalingError

ENDPOINTS: web.AppKey[MediaEndpoints] = web.AppKey("media_endpoints", MediaEndpoints)

SDP_TYPE = "application/sdp"
MAX_SDP = 16 * 1024  # bytes of an offer (a full one of 8 sections is ~6 KB)
DEFAULT_NAME = "WHIP publisher"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, PATCH, OPTIONS",  # PATCH: to be told 405
    "Access-Control-Allow-Headers": "Content-Type, Authorization, If-Match",
    "Access-Control-Expose-Headers": "Location, ETag, Link, Accept-Post, Allow",
    "Access-Control-Max-Age": "600",
}


async def _offer(request: web.Request) -> str:
    if request.content_type != SDP_TYPE:
        sent = request.headers.get("Content-Type")
        raise ApiError(
            "unsupported_media_type",
            f"The body must be an SDP offer sent with 'Content-Type: {SDP_TYPE}'"
            + (f" (this request says '{sent[:60]}')." if sent else " (this request has no Content-Type)."),
            {"Accept-Post": SDP_TYPE},
        )
    length = request.content_length
    if length is not None and length > MAX_SDP:
        raise ApiError("bad_request", f"The offer is {length} bytes; at most {MAX_SDP} are accepted.")
    raw = await request.content.read(MAX_SDP + 1)
    if len(raw) > MAX_SDP:
        raise ApiError("bad_request", f"The offer is larger than {MAX_SDP} bytes; at most {MAX_SDP} are accepted.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError("bad_request", "The offer must be UTF-8 text.") from None
    if not text.startswith("v=0"):
        raise ApiError("bad_request", "The body is not an SDP offer (it must start with 'v=0').")
    return text


def _refused(exc: Refused | SignalingError) -> ApiError:
    if isinstance(exc, SignalingError):
        return ApiError("bad_request", exc.message)
    return ApiError(exc.code if exc.code in STATUS else "bad_request", exc.message)


def _ice_links(request: web.Request, rid: str) -> str:
    """The STUN/TURN servers (``--ice-server``, TURN credentials per session)
    as RFC 9725 4.6 ``Link`` values; "" without any."""
    config = request.app[CONFIG]
    servers = ice_servers_for(config.ice_servers, config.turn_secret, rid, request.app[LINKS].clock.now())
    links = []
    for server in servers:
        for url in server["urls"]:
            link = f'<{url}>; rel="ice-server"'
            if "username" in server and "credential" in server:
                link += f'; username="{server["username"]}"; credential="{server["credential"]}"; credential-type="password"'
            links.append(link)
    return ", ".join(links)


def _created(request: web.Request, kind: str, rid: str, answer: str) -> web.Response:
    base = request.app[CONFIG].base_url
    headers = {"Location": f"{base}/{kind}/{request.match_info['token']}/{rid}", "ETag": f'"{secrets.token_hex(8)}"'}
    links = _ice_links(request, rid)
    if links:
        headers["Link"] = links
    return web.Response(status=201, text=answer, content_type=SDP_TYPE, headers=headers)


async def _here(request: web.Request, link: LinkRecord) -> None:
    """The call's media lives on one node (with a shared store, the first to
    claim it): elsewhere, ``307`` to that node's same URL (RFC 9725 4.5),
    before any seat is taken."""
    config = request.app[CONFIG]
    host = await request.app[LINKS].store.claim_call(link.token_hash, config.ws_base_url, CALL_CLAIM_TTL)
    if host != config.ws_base_url:
        base = "https" + host[3:] if host.startswith("wss") else "http" + host[2:]
        raise web.HTTPTemporaryRedirect(base + request.path_qs)


async def whip_publish(request: web.Request) -> web.Response:
    service = request.app[LINKS]
    link = await service.find(request.match_info["token"])
    service.check_e2ee(link, False, via="a WHIP publisher")
    request.app[LIMITER].check(request.remote, service.clock.now(), "joins")
    name = text_field(dict(request.query), "name", required=False, min_len=1, max_len=64) or DEFAULT_NAME
    sdp = await _offer(request)
    await _here(request, link)
    grant = await service.join(link, name)
    try:
        rid, answer = await request.app[ENDPOINTS].publish(grant.ticket, sdp)
    except (Refused, SignalingError) as exc:
        raise _refused(exc) from None
    return _created(request, "whip", rid, answer)


async def whep_view(request: web.Request) -> web.Response:
    service = request.app[LINKS]
    link = await service.find(request.match_info["token"])
    service.check_e2ee(link, False, via="a WHEP viewer")
    request.app[LIMITER].check(request.remote, service.clock.now(), "viewers")
    sdp = await _offer(request)
    await _here(request, link)
    call_of = Admission(
        participant_id="v_" + secrets.token_hex(8),
        name="",
        call_id=link.token_hash,
        call_type=link.type,
        title=link.title,
        max_participants=link.max_participants,
    )
    try:
        rid, answer = await request.app[ENDPOINTS].view(call_of, sdp)
    except (Refused, SignalingError) as exc:
        raise _refused(exc) from None
    return _created(request, "whep", rid, answer)


async def end_resource(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    ended = await request.app[ENDPOINTS].end(request.match_info["resource"], token_hash(token))
    if not ended:
        raise ApiError("not_found", "There is no such WHIP/WHEP session here (it ended, or this is not its Location).")
    return web.Response(status=200)


async def no_patch(request: web.Request) -> web.Response:
    raise ApiError(
        "method_not_allowed",
        "This server does not take trickle ICE or ICE restarts: every offer carries all its candidates.",
        {"Allow": "DELETE, OPTIONS"},
    )


async def options(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={"Accept-Post": SDP_TYPE} if "resource" not in request.match_info else {})


def add_routes(app: web.Application) -> None:
    for kind, handler in (("whip", whip_publish), ("whep", whep_view)):
        app.router.add_post(f"/{kind}/{{token}}", handler)
        app.router.add_route("OPTIONS", f"/{kind}/{{token}}", options)
        app.router.add_delete(f"/{kind}/{{token}}/{{resource}}", end_resource)
        app.router.add_patch(f"/{kind}/{{token}}/{{resource}}", no_patch)
        app.router.add_route("OPTIONS", f"/{kind}/{{token}}/{{resource}}", options)

    async def cors(request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith(("/whip/", "/whep/")):
            for name, value in CORS.items():
                response.headers.setdefault(name, value)

    app.on_response_prepare.append(cors)
