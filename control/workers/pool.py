"""The SFU worker processes of one node: started, watched, replaced, placed on.

Each worker (``python -m sfu.worker``) hosts whole calls on its own UDP port
(``--udp-port`` + its index) and listens on a private unix socket; the front
process keeps one control WebSocket to each (load reports in, orders out).
A worker that dies is noticed at once (its process exits, its sockets
close), its calls are forgotten here so their participants are placed again,
and a new worker takes its index.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from control.workers.placement import Placement, Placements
from sfu.events import EventSink
from sfu.observe import merge

if TYPE_CHECKING:
    from control.workers.endpoints import RemoteEndpoints

log = logging.getLogger("callsfu.workers")

TICK_INTERVAL = 0.5  # seconds between the front's ticks to each worker (sfu/worker.py FRONT_TICK)
OBSERVE_TIMEOUT = 2.0  # seconds a worker has to send its snapshot
START_TIMEOUT = 30.0  # seconds a worker has to open its socket
STOP_TIMEOUT = 8.0  # seconds a worker told to stop gets before it is killed
RESTART_DELAY = 0.2  # before starting a replacement (a worker dying at once loops slowly)
LOAD_PER_PARTICIPANT = 1000.0  # forwarded packets/s that weigh as much as one participant
ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass(eq=False)
class Worker:
    index: int
    socket_path: str
    proc: asyncio.subprocess.Process | None = None
    http: aiohttp.ClientSession | None = None
    control: aiohttp.ClientWebSocketResponse | None = None
    ready: bool = False
    draining: bool = False
    udp_port: int = 0
    calls: int = 0
    participants: int = 0
    forwarded_per_s: float = 0.0
    generation: int = 0
    started_at: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.index,
            "pid": self.pid,
            "ready": self.ready and not self.draining,
            "calls": self.calls,
            "participants": self.participants,
            "udp_port": self.udp_port,
            "draining": self.draining,
            "forwarded_per_s": self.forwarded_per_s,
        }

    async def send(self, order: dict[str, Any]) -> bool:
        if self.control is None or self.control.closed:
            return False
        try:
            await self.control.send_str(json.dumps(order))
            return True
        except (ConnectionError, RuntimeError):
            return False


class WorkerPool:
    def __init__(
        self,
        count: int,
        *,
        udp_port: int = 0,
        ice_hosts: list[str] | None = None,
        forwarding: str | None = None,
        log_level: str = "info",
        log_format: str = "text",
        max_viewers: int = 100,
        loudest_audio: int = 3,
        on_event: EventSink | None = None,
    ) -> None:
        if count < 1:
            raise ValueError(f"--workers must be at least 1, not {count}")
        self.udp_port = udp_port
        self.ice_hosts = list(ice_hosts or [])
        self.forwarding = forwarding
        self.log_level = log_level
        self.log_format = log_format
        self.max_viewers = max_viewers
        self.loudest_audio = loudest_audio
        self.on_event = on_event  # the workers' call events: the front's webhooks
        self.endpoints: RemoteEndpoints | None = None  # WHIP/WHEP resources, told when theirs end
        self._asked: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._asks = 0
        self._dir = tempfile.mkdtemp(prefix="callsfu-workers-")  # 0700: only this user reaches the sockets
        self.workers = [Worker(i, os.path.join(self._dir, f"w{i}.sock")) for i in range(count)]
        self.placements = Placements()
        self.draining = False  # the whole node: no new calls here
        self._watchers: list[asyncio.Task[None]] = []
        self._closing = False
        self.deaths = 0

    # -- life -------------------------------------------------------------------
    async def start(self) -> None:
        """Start every worker; returns once all are ready."""
        ready = [asyncio.get_running_loop().create_future() for _ in self.workers]
        for worker, fut in zip(self.workers, ready):
            self._watchers.append(asyncio.get_running_loop().create_task(self._keep(worker, fut)))
        try:
            await asyncio.wait_for(asyncio.gather(*ready), START_TIMEOUT)
        except BaseException:
            await self.close()
            raise

    async def _keep(self, worker: Worker, first: asyncio.Future[None] | None) -> None:
        """Run ``worker``, and a new one each time it dies, until the pool closes."""
        while not self._closing:
            try:
                await self._run_once(worker, first)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("worker %d failed to start", worker.index)
                if first is not None and not first.done():
                    first.set_exception(OSError(f"SFU worker {worker.index} could not start: {exc!r}"))
            first = None
            if self._closing:
                return
            await asyncio.sleep(RESTART_DELAY)

    async def _run_once(self, worker: Worker, first: asyncio.Future[None] | None) -> None:
        port = self.udp_port + worker.index if self.udp_port else 0
        cmd = [
            sys.executable, "-m", "control.workers.process", "--socket", worker.socket_path, "--index", str(worker.index),
            "--udp-port", str(port), "--log-level", self.log_level, "--log-format", self.log_format,
            "--max-viewers", str(self.max_viewers), "--loudest-audio", str(self.loudest_audio),
        ]  # fmt: skip
        for host in self.ice_hosts:
            cmd += ["--ice-host", host]
        if self.forwarding:
            cmd += ["--forwarding", self.forwarding]
        worker.generation += 1
        worker.started_at = time.monotonic()
        worker.draining = False
        worker.proc = await asyncio.create_subprocess_exec(*cmd, cwd=str(ROOT), start_new_session=False)
        worker.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10), connector=aiohttp.UnixConnector(path=worker.socket_path, limit=0))
        exited = asyncio.ensure_future(worker.proc.wait())
        try:
            worker.control = await self._connect(worker, exited)
            if worker.control is not None:
                hello = await worker.control.receive_json(timeout=START_TIMEOUT)
                worker.udp_port = int(hello["udp_port"])
                worker.ready = True
                log.info("worker %d ready (pid %d, UDP port %d)", worker.index, worker.pid, worker.udp_port)
                if first is not None and not first.done():
                    first.set_result(None)
                reader = asyncio.ensure_future(self._read_reports(worker))
                ticker = asyncio.ensure_future(self._tick(worker))
                await asyncio.wait({exited, reader}, return_when=asyncio.FIRST_COMPLETED)
                reader.cancel()
                ticker.cancel()
            elif first is not None and not first.done():  # it could not start at all: say so at once
                first.set_exception(OSError(f"SFU worker {worker.index} could not start (exit code {worker.proc.returncode}); see its message above"))
        finally:
            self._lost(worker)
            if not exited.done():  # its control socket closed: it ends its calls and exits by itself
                await asyncio.wait({exited}, timeout=STOP_TIMEOUT)
            if worker.proc.returncode is None:
                worker.proc.kill()
            await exited
            await worker.http.close()
            if not self._closing:
                self.deaths += 1
                log.warning("worker %d (pid %s) exited with %s; starting a new one", worker.index, worker.pid, worker.proc.returncode)

    async def _connect(self, worker: Worker, exited: asyncio.Future[int]) -> aiohttp.ClientWebSocketResponse | None:
        assert worker.http is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and not exited.done():
            try:
                return await worker.http.ws_connect("http://worker/control", autoping=True, heartbeat=None)
            except (aiohttp.ClientConnectionError, FileNotFoundError, ConnectionRefusedError):
                await asyncio.sleep(0.05)
        return None

    async def _tick(self, worker: Worker) -> None:
        """Twice a second: the worker tells a stall of this process (its clients'
        pongs waiting here) from its clients' silence by these."""
        while True:
            await asyncio.sleep(TICK_INTERVAL)
            await worker.send({"op": "tick"})

    async def _read_reports(self, worker: Worker) -> None:
        assert worker.control is not None
        async for msg in worker.control:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            report = json.loads(msg.data)
            if report.get("op") == "event":
                if self.on_event is not None:
                    try:
                        self.on_event(str(report["event"]), dict(report["data"]))
                    except Exception:
                        log.exception("a worker's %s event was not delivered", report.get("event"))
            elif report.get("op") == "snapshot":
                asked = self._asked.pop(int(report["id"]), None)
                if asked is not None and not asked.done():
                    asked.set_result(dict(report["snapshot"]))
            elif report.get("op") == "load":
                if self.endpoints is not None:
                    self.endpoints.still_open(worker, set(report.get("resources", ())))
                worker.calls = int(report["calls"])
                worker.participants = int(report["participants"])
                worker.forwarded_per_s = float(report["forwarded_per_s"])
                if report.get("draining") and not worker.draining:  # SIGTERM'd: place nothing more there
                    worker.draining = True
                    self.placements.forget_worker(worker)

    def _lost(self, worker: Worker) -> None:
        """The worker is gone: nothing is placed on it, its calls will be placed anew."""
        worker.ready = False
        worker.control = None
        worker.calls = worker.participants = 0
        worker.forwarded_per_s = 0.0
        self.placements.forget_worker(worker)
        if self.endpoints is not None:
            self.endpoints.still_open(worker, set(), lost=True)  # its WHIP/WHEP sessions are gone: seats freed

    async def close(self) -> None:
        self._closing = True
        for worker in self.workers:
            if worker.control is not None:
                await worker.control.close()  # the worker ends its calls and exits
        procs = [w.proc for w in self.workers if w.proc is not None and w.proc.returncode is None]
        if procs:
            await asyncio.wait([asyncio.ensure_future(p.wait()) for p in procs], timeout=STOP_TIMEOUT)
            for p in procs:
                if p.returncode is None:
                    p.kill()
        for task in self._watchers:
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        try:
            for name in os.listdir(self._dir):
                os.unlink(os.path.join(self._dir, name))
            os.rmdir(self._dir)
        except OSError:
            pass

    # -- placement ------------------------------------------------------------------
    def place(self, call_id: str) -> Placement | None:
        """The worker hosting ``call_id`` (chosen now, least-loaded, for a new call)."""
        placement = self.placements.get(call_id)
        if placement is not None:
            return placement
        if self.draining:
            return None
        live = [w for w in self.workers if w.ready and not w.draining]
        if not live:
            return None
        # participants: the front's own count of the WebSockets it proxies there
        # (exact at once, racing joins included); packets: the worker's report
        worker = min(live, key=lambda w: (self.placements.connections_on(w) + w.forwarded_per_s / LOAD_PER_PARTICIPANT, w.index))
        return self.placements.add(call_id, worker)

    def hosted(self) -> list[str]:
        return self.placements.call_ids()

    async def end_call(self, call_id: str, reason: str) -> None:
        placement = self.placements.get(call_id)
        if placement is not None:
            await placement.worker.send({"op": "end_call", "call_id": call_id, "reason": reason})

    async def drain_worker(self, index: int, reason: str = "worker_draining") -> int:
        """Stop placing on worker ``index`` and move its calls; it is replaced
        once empty. Returns how many participants were asked to rejoin."""
        if not 0 <= index < len(self.workers):
            raise ValueError(f"there is no worker {index} (workers 0 to {len(self.workers) - 1})")
        worker = self.workers[index]
        worker.draining = True
        moved = self.placements.forget_worker(worker)
        await worker.send({"op": "drain", "reason": reason})
        asyncio.ensure_future(self._replace_when_empty(worker, worker.generation))
        return moved

    async def _replace_when_empty(self, worker: Worker, generation: int) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and worker.generation == generation and self.placements.connections_on(worker):
            await asyncio.sleep(0.1)
        if worker.generation == generation and worker.control is not None:
            await worker.control.close()  # it exits; _keep starts a fresh one

    async def drain(self, reason: str = "node_draining") -> int:
        """The whole node: no new calls, every call moved elsewhere."""
        self.draining = True
        moved = 0
        for worker in self.workers:
            worker.draining = True
            moved += self.placements.forget_worker(worker)
            await worker.send({"op": "drain", "reason": reason})
        return moved

    async def observe(self) -> dict[str, Any]:
        """Every live worker's snapshot (sfu/observe.py), merged: /metrics and /stats."""
        asks = []
        for worker in self.workers:
            if worker.control is None or worker.control.closed:
                continue
            self._asks += 1
            fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._asked[self._asks] = fut
            if await worker.send({"op": "observe", "id": self._asks}):
                asks.append(fut)
            else:
                self._asked.pop(self._asks, None)
        snapshots: list[dict[str, Any]] = []
        if asks:
            done, pending = await asyncio.wait(asks, timeout=OBSERVE_TIMEOUT)
            for fut in pending:
                fut.cancel()
            snapshots = [f.result() for f in done if not f.cancelled()]
        for key in [k for k, f in self._asked.items() if f.done()]:
            del self._asked[key]
        return merge(snapshots)

    def describe(self) -> list[dict[str, Any]]:
        return [w.describe() for w in self.workers]
