"""Shared test set-up.

Every test runs inside a private network namespace (only loopback): if pytest
was started outside one, it re-executes itself under ``scripts/netns-run``.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parent.parent


def isolated() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def pytest_configure(config: pytest.Config) -> None:
    if isolated() or os.environ.get("CALLSFU_IN_NETNS") == "1":
        return
    os.environ["CALLSFU_IN_NETNS"] = "1"
    os.execv(
        str(ROOT / "scripts" / "netns-run"),
        [str(ROOT / "scripts" / "netns-run"), sys.executable, "-m", "pytest", *sys.argv[1:]],
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """One aiohttp client session per test (signaling and HTTP calls of the test peers)."""
    async with aiohttp.ClientSession() as session:
        yield session
