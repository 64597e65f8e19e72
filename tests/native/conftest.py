"""Fixtures of the native fan-out's tests."""

from __future__ import annotations

import socket
from typing import Iterator

import pytest

from .loopback import udp_socket


@pytest.fixture
def sender() -> Iterator[socket.socket]:
    """The SFU side's UDP socket on loopback."""
    sock = udp_socket()
    yield sock
    sock.close()
