"""The ``ice_servers`` a joining client gets (STUN/TURN for RTCPeerConnection).

STUN URLs go out as they are. TURN needs credentials: with ``--turn-secret``
each join gets time-limited ones in the TURN REST form that coturn checks
with ``use-auth-secret`` / ``static-auth-secret`` (username ``EXPIRY:ID``,
credential base64(HMAC-SHA1(secret, username))), so no long-lived TURN
password ever reaches a browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

TURN_CREDENTIAL_TTL = 24 * 3600


def turn_credential(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def ice_servers_for(
    urls: list[str], turn_secret: str | None, participant_id: str, now: float
) -> list[dict[str, Any]]:
    servers: list[dict[str, Any]] = []
    for url in urls:
        if url.startswith(("turn:", "turns:")) and turn_secret:
            username = f"{int(now + TURN_CREDENTIAL_TTL)}:{participant_id}"
            servers.append({"urls": [url], "username": username, "credential": turn_credential(turn_secret, username)})
        else:
            servers.append({"urls": [url]})
    return servers
