"""Stores under test: SQLite in a temporary folder, and Redis on a real
``redis-server`` started for the session on 127.0.0.1 (a free port)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import redis

from control.store.base import LinkStore
from control.store.redis import RedisStore
from control.store.sqlite import SqliteStore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class RedisServer:
    port: int

    def url(self, db: int = 0, **query: str) -> str:
        tail = "&".join(f"{k}={v}" for k, v in query.items())
        return f"redis://127.0.0.1:{self.port}/{db}" + (f"?{tail}" if tail else "")


def wait_for_ping(proc: subprocess.Popen[bytes], port: int) -> None:
    """Return once the redis-server of ``proc`` answers PING (loading counts as
    not yet); kill it and raise RuntimeError after 10 s or if it exits."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                if client.ping():
                    return
            except (redis.exceptions.BusyLoadingError, redis.ConnectionError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"redis-server did not answer PING on 127.0.0.1:{port}")
            time.sleep(0.02)
    finally:
        client.close()


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], RedisServer]:
    """A throw-away redis-server (no persistence), answering PING."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for_ping(proc, port)
    return proc, RedisServer(port)


def stop_redis(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    proc, server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        stop_redis(proc)


@pytest.fixture
def redis_db(redis_server: RedisServer) -> RedisServer:
    """The session's server, emptied for this test."""
    with redis.Redis(host="127.0.0.1", port=redis_server.port) as client:
        client.flushall()
    return redis_server


Opener = Callable[[], Awaitable[LinkStore]]


@dataclass
class StoreFactory:
    """Opens the same store again (as a restarted node would)."""

    kind: str
    open: Opener


@pytest.fixture(params=["sqlite", "redis"])
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    opened: list[LinkStore] = []
    if request.param == "sqlite":

        async def open_sqlite() -> LinkStore:
            store = SqliteStore.in_dir(tmp_path)
            opened.append(store)
            return store

        factory = StoreFactory("sqlite", open_sqlite)
    else:
        server: RedisServer = request.getfixturevalue("redis_db")

        async def open_redis() -> LinkStore:
            store = RedisStore.from_url(server.url())
            opened.append(store)
            return store

        factory = StoreFactory("redis", open_redis)
    try:
        yield factory
    finally:
        for store in opened:
            try:
                await store.close()
            except Exception:
                pass


@pytest.fixture
async def store(stores: StoreFactory) -> LinkStore:
    return await stores.open()
