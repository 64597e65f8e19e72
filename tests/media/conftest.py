"""A real ``callsfu serve`` process for media tests (own process, own core)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import aiohttp
import pytest

from tests.server import ROOT, Server

__all__ = ["ROOT", "Server", "new_link"]


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """``callsfu serve``; parametrise indirectly with "native" or "python" to
    pick the forwarding path (default: the server's own default)."""
    path = getattr(request, "param", None)
    srv = Server(tmp_path, *(["--forwarding", path] if path else []))
    yield srv
    srv.stop()


async def new_link(http: aiohttp.ClientSession, server: Server, call_type: str = "video") -> str:
    async with http.post(f"{server.url}/api/links", json={"type": call_type}) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["token"])
