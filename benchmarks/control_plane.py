"""Control-plane throughput over loopback: link creations, look-ups and joins.

    python -m benchmarks.control_plane [--store both|sqlite|redis] [--seconds 5]
                                       [--concurrency 32] [--json FILE]

Starts ``callsfu serve`` as a subprocess on 127.0.0.1 (a free port, a temporary
data dir), once with the embedded SQLite store and once with Redis (its own
``redis-server``), then drives it from an aiohttp client with CONCURRENCY
requests in flight, for SECONDS per operation:

- create: ``POST /api/links``
- lookup: ``GET /api/links/TOKEN`` over the links just created
- join:   ``POST /api/links/TOKEN/join``, at most ``max_participants`` per link
  (the links created above, then new ones made outside the timed requests)

It prints progress every second and a table (ops/s, p50 and p99 latency) at
the end. It only runs inside a private network namespace where loopback is
the only interface: started outside one, it re-executes itself under
``scripts/netns-run`` (root or unprivileged user namespaces needed). It stops
everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator, Sequence

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
NETNS_RUN = ROOT / "scripts" / "netns-run"
OPERATIONS = ("create", "lookup", "join")


# -- isolation -----------------------------------------------------------------------
def isolated() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def ensure_private_netns(argv: Sequence[str]) -> None:
    """Return inside a loopback-only namespace; otherwise re-exec under netns-run."""
    if isolated():
        return
    if os.environ.get("CALLSFU_BENCH_REEXEC") == "1":
        sys.exit("control_plane: still not in a private network namespace after scripts/netns-run; refusing to run")
    os.environ["CALLSFU_BENCH_REEXEC"] = "1"
    os.execv(str(NETNS_RUN), [str(NETNS_RUN), sys.executable, "-m", "benchmarks.control_plane", *argv])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- processes we start --------------------------------------------------------------
def _die_with_parent() -> None:
    """In the child: get SIGTERM if the benchmark dies without cleaning up (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _wait_until(check: Callable[[], Awaitable[bool]], proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 45  # callsfu serve and its SFU workers, on a busy machine
    while True:
        with contextlib.suppress(OSError, aiohttp.ClientError, asyncio.TimeoutError):
            if await check():
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} did not come up (exit code {proc.poll()}):\n{tail}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def redis_server(workdir: Path) -> AsyncIterator[str]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    log = workdir / "redis.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(workdir)],
            stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )  # fmt: skip
    try:

        async def ping() -> bool:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(b"PING\r\n")
                return (await asyncio.wait_for(reader.readline(), 1)).startswith(b"+PONG")
            finally:
                writer.close()

        await _wait_until(ping, proc, "redis-server", log)
        yield f"redis://127.0.0.1:{port}/0?node_id=bench"
    finally:
        _stop(proc)


@contextlib.asynccontextmanager
async def callsfu_server(workdir: Path, store: str | None) -> AsyncIterator[str]:
    port = free_port()
    script = Path(sys.executable).with_name("callsfu")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "control.cli"]
    command += ["serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(workdir / "data"),
                "--ice-host", "127.0.0.1", "--log-level", "warning"]  # fmt: skip
    if store:
        command += ["--store", store]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSFU_")}
    log = workdir / "callsfu.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir, preexec_fn=_die_with_parent
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:

            async def healthy() -> bool:
                async with http.get(f"{base}/healthz") as resp:
                    return resp.status == 200

            await _wait_until(healthy, proc, "callsfu serve", log)
        yield base
    finally:
        _stop(proc)


# -- measuring -----------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: int = 0
    elapsed: float = 0.0

    def summary(self) -> dict[str, float | int]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else 0.0

        return {
            "ops": len(lat),
            "ops_per_s": round(len(lat) / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "errors": self.errors,
        }


Request = Callable[[aiohttp.ClientSession], Awaitable[bool]]


async def run_phase(
    label: str, phase: Phase, http: aiohttp.ClientSession, next_request: Callable[[], Awaitable[Request]],
    seconds: float, concurrency: int,
) -> None:  # fmt: skip
    """``concurrency`` workers send requests back to back for ``seconds``."""
    start = time.perf_counter()
    stop_at = start + seconds

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            request = await next_request()  # untimed set-up (say, a fresh link)
            t0 = time.perf_counter()
            try:
                ok = await request(http)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                ok = False
            if ok:
                phase.latencies.append(time.perf_counter() - t0)
            else:
                phase.errors += 1

    async def progress() -> None:
        last_n, last_t = 0, start
        while True:
            await asyncio.sleep(1)
            now, n = time.perf_counter(), len(phase.latencies)
            print(f"  [{label}] {phase.name}: {n} ops, {(n - last_n) / (now - last_t):.0f}/s now"
                  f"{f', {phase.errors} errors' if phase.errors else ''}", flush=True)  # fmt: skip
            last_n, last_t = n, now

    reporter = asyncio.create_task(progress())
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        reporter.cancel()
        phase.elapsed = time.perf_counter() - start


async def bench_server(label: str, base: str, seconds: float, concurrency: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    tokens: list[str] = []
    max_seats = 32
    async with aiohttp.ClientSession(base_url=base, connector=connector, timeout=timeout) as http:

        async def create(session: aiohttp.ClientSession) -> bool:
            nonlocal max_seats
            async with session.post("/api/links", json={"type": "video", "title": "bench"}) as resp:
                if resp.status != 201:
                    return False
                body = await resp.json()
                tokens.append(body["token"])
                max_seats = int(body["max_participants"])
                return True

        async def make_create() -> Request:
            return create

        lookups = 0

        async def make_lookup() -> Request:
            nonlocal lookups
            token = tokens[lookups % len(tokens)]
            lookups += 1

            async def lookup(session: aiohttp.ClientSession) -> bool:
                async with session.get(f"/api/links/{token}") as resp:
                    await resp.read()
                    return resp.status == 200

            return lookup

        def seats() -> Iterator[str]:
            for token in list(tokens):
                for _ in range(max_seats):
                    yield token

        seat_iter = seats()
        fresh: list[str] = []

        async def make_join() -> Request:
            token = next(seat_iter, None)
            if token is None:  # every link created above is full: make one more, untimed
                if not fresh:
                    spare = len(tokens)
                    await create(http)
                    fresh.extend(tokens[spare:] * max_seats)
                token = fresh.pop()

            async def join(session: aiohttp.ClientSession) -> bool:
                async with session.post(f"/api/links/{token}/join", json={"name": "bench"}) as resp:
                    await resp.read()
                    return resp.status == 200

            return join

        # untimed warm-up: the server opens its store connections, loads its scripts
        async def warm(_: int) -> None:
            async with http.post("/api/links", json={"type": "video"}) as resp:
                token = (await resp.json())["token"]
            async with http.get(f"/api/links/{token}") as resp:
                await resp.read()
            async with http.post(f"/api/links/{token}/join", json={"name": "warm-up"}) as resp:
                await resp.read()

        await asyncio.gather(*(warm(i) for i in range(concurrency)))

        phases = {name: Phase(name) for name in OPERATIONS}
        await run_phase(label, phases["create"], http, make_create, seconds, concurrency)
        if not tokens:
            raise RuntimeError(f"[{label}] no link could be created")
        await run_phase(label, phases["lookup"], http, make_lookup, seconds, concurrency)
        await run_phase(label, phases["join"], http, make_join, seconds, concurrency)
    return {name: phase.summary() for name, phase in phases.items()}


async def run(stores: Sequence[str], seconds: float, concurrency: int) -> dict[str, Any]:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # clean up as for Ctrl-C
    results: dict[str, Any] = {}
    for kind in stores:
        with tempfile.TemporaryDirectory(prefix=f"callsfu-bench-{kind}-") as tmp:
            workdir = Path(tmp)
            async with contextlib.AsyncExitStack() as stack:
                store_url = await stack.enter_async_context(redis_server(workdir)) if kind == "redis" else None
                base = await stack.enter_async_context(callsfu_server(workdir, store_url))
                print(f"{kind}: callsfu serve on {base}" + (f", store {store_url}" if store_url else ""), flush=True)
                results[kind] = await bench_server(kind, base, seconds, concurrency)
    return results


def table(results: dict[str, Any]) -> str:
    lines = [f"{'store':<8}{'operation':<11}{'ops/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'ops':>8}{'errors':>8}"]
    for kind, ops in results.items():
        for name in OPERATIONS:
            r = ops[name]
            lines.append(
                f"{kind:<8}{name:<11}{r['ops_per_s']:>9.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
                f"{r['ops']:>8}{r['errors']:>8}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.control_plane", description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["both", "sqlite", "redis"], default="both", help="which store(s) to measure (default both)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each operation's run (default 5)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.concurrency < 1:
        parser.error("--seconds must be positive and --concurrency at least 1")
    ensure_private_netns(argv)

    stores = ["sqlite", "redis"] if args.store == "both" else [args.store]
    try:
        import uvloop

        runner: Callable[[Awaitable[dict[str, Any]]], dict[str, Any]] = uvloop.run  # type: ignore[assignment]
    except ImportError:
        runner = asyncio.run  # type: ignore[assignment]
    load_before = os.getloadavg()
    try:
        results = runner(run(stores, args.seconds, args.concurrency))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("control_plane: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    load_after = os.getloadavg()

    print()
    print(table(results))
    print(f"{os.cpu_count()} CPUs; 1-minute load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
          " (client, server and redis-server share the machine)")
    if args.json:
        report = {
            "seconds": args.seconds,
            "concurrency": args.concurrency,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_1min": [round(load_before[0], 2), round(load_after[0], 2)],
            "results": results,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
