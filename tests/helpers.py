"""Helpers shared by tests: an in-process server with an injectable clock."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import AsyncIterator

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from control.app import create_app
from control.clock import Clock
from control.config import Config


@contextlib.asynccontextmanager
async def running_server(
    data_dir: Path, clock: Clock | None = None, **settings: object
) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], Config]]:
    """Serve on 127.0.0.1 (a free port) with the embedded store in ``data_dir``."""
    settings.setdefault("ice_host", ["127.0.0.1"])
    config = Config(data_dir=data_dir, **settings)  # type: ignore[arg-type]
    server = TestServer(create_app(config, clock=clock), host="127.0.0.1", port=0)
    await server.start_server()
    config.port = server.port or 0
    config.public_url = f"http://127.0.0.1:{server.port}"
    client = TestClient(server)
    await client.start_server()
    try:
        yield client, config
    finally:
        await client.close()
