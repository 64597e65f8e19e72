"""``--workers N``: what the worker processes buy and cost (benchmarks, not tests).

    python -m benchmarks.workers scaling [--calls 4 --participants 8 --seconds 10]
        several meetings at once through the load test (benchmarks/loadtest.py),
        callsfu --workers 1 then --workers 2: aggregate forwarded packets/s and
        their ratio (the load generator shares the machine: its CPU is reported)
    python -m benchmarks.workers proxy [--joins 50]
        what carrying the WebSocket through the front costs: join (POST → welcome)
        and a ping round trip on the signaling socket, --workers 0 against 1
    python -m benchmarks.workers recovery [--kills 5 --participants 3]
        kill -9 of the worker hosting a call of aiortc peers that rejoin by
        themselves (tests/media/peer.py): time until every one receives
        everyone's media again, p50/p99 over the kills

Runs inside a private network namespace (loopback only), as the load test does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parent.parent


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))], 1)


# -- scaling: the load test twice ---------------------------------------------------------------
def scaling(args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    for n in (1, 2):
        out = Path(tempfile.mkdtemp(prefix="callsfu-scaling-")) / "run.json"
        cmd = [sys.executable, "-m", "benchmarks.loadtest", "--scenario", "meeting", "--participants", str(args.participants),
               "--calls", str(args.calls), "--sfu-workers", str(n), "--baselines", "none", "--seconds", str(args.seconds),
               "--json", str(out)]  # fmt: skip
        print(f"--workers {n}: {args.calls} meetings of {args.participants}", file=sys.stderr, flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
        run = json.loads(out.read_text())["runs"]["callsfu"][0]
        runs[str(n)] = {k: run.get(k) for k in ("forwarded_pps", "expected_pps", "delivered_pct", "loss_pct", "cpu_pct", "load_cpu_pct", "latency_ms_p50", "latency_ms_p99")}
    one, two = runs["1"]["forwarded_pps"] or 0, runs["2"]["forwarded_pps"] or 0
    return {"scenario": f"{args.calls} meetings of {args.participants}", "runs": runs, "ratio_2_over_1": round(two / one, 2) if one else None}


# -- proxy: join and ping through the front ----------------------------------------------------
async def _proxy_once(workers: int, joins: int, workdir: Path) -> dict[str, Any]:
    import aiohttp

    from tests.server import Server

    server = Server(workdir / f"w{workers}", "--workers", str(workers))
    try:
        token = server.create_link("audio")["token"]
        join_ms: list[float] = []
        ping_ms: list[float] = []
        async with aiohttp.ClientSession() as http:
            for i in range(joins):
                t0 = time.perf_counter()
                async with http.post(f"{server.url}/api/links/{token}/join", json={"name": f"j{i}"}) as resp:
                    grant = await resp.json()
                ws = await http.ws_connect(grant["ws_url"], autoping=False)
                welcome = json.loads((await ws.receive(timeout=10)).data)
                assert welcome["type"] == "welcome", welcome
                join_ms.append((time.perf_counter() - t0) * 1000)
                # the server pings every second; answer and time our own ping's pong instead
                for _ in range(5):
                    t1 = time.perf_counter()
                    await ws.ping(b"bench")
                    while True:
                        msg = await ws.receive(timeout=10)
                        if msg.type == aiohttp.WSMsgType.PONG and msg.data == b"bench":
                            break
                        if msg.type == aiohttp.WSMsgType.PING:
                            await ws.pong(msg.data)
                    ping_ms.append((time.perf_counter() - t1) * 1000)
                await ws.close()
        return {
            "join_ms_p50": _pct(join_ms, 50), "join_ms_p99": _pct(join_ms, 99),
            "ping_ms_p50": _pct(ping_ms, 50), "ping_ms_p99": _pct(ping_ms, 99),
        }  # fmt: skip
    finally:
        server.stop()


def proxy(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="callsfu-proxy-"))
    return {f"workers_{w}": asyncio.run(_proxy_once(w, args.joins, workdir)) for w in (0, 1)}


# -- recovery: kill -9 and back -------------------------------------------------------------------
async def _recovery(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    from tests.media.peer import Peer, wait_for
    from tests.server import Server, http

    server = Server(Path(tempfile.mkdtemp(prefix="callsfu-recovery-")), "--workers", "2")
    times: list[float] = []
    try:
        async with aiohttp.ClientSession() as session:
            for k in range(args.kills):
                # the previous round's participants gone from every worker's report
                await wait_for(lambda: not any(w["participants"] for w in http("GET", server.url + "/healthz")[1]["workers"]), 10)
                token = server.create_link("video")["token"]
                peers = [Peer(session, server.url, token, f"p{i}", i, auto_rejoin=True) for i in range(args.participants)]
                try:
                    for p in peers:
                        await p.join()

                    def all_see() -> bool:
                        return all(a.sees(b) for a in peers for b in peers if a is not b)

                    if not await wait_for(all_see, 30):
                        print(f"kill {k}: the call never started", file=sys.stderr)
                        continue
                    # the host: the one worker reporting these participants (reports lag by a tick)
                    def settled() -> bool:
                        counts = sorted(w["participants"] for w in http("GET", server.url + "/healthz")[1]["workers"])
                        return counts[-1] == len(peers) and sum(counts) == len(peers)

                    if not await wait_for(settled, 10):
                        print(f"kill {k}: /healthz never showed one worker hosting the call", file=sys.stderr)
                        continue
                    host = next(w for w in http("GET", server.url + "/healthz")[1]["workers"] if w["participants"] == len(peers))
                    t0 = time.monotonic()
                    os.kill(host["pid"], signal.SIGKILL)
                    rejoins = [p.rejoins for p in peers]
                    ok = await wait_for(lambda: all(p.rejoins > r for p, r in zip(peers, rejoins)) and all_see(), 30, 0.01)
                    if ok:
                        times.append((time.monotonic() - t0) * 1000)
                    print(f"kill {k}: {'%.0f ms' % times[-1] if ok else 'not back in 30 s'}", file=sys.stderr, flush=True)
                    await wait_for(lambda: all(w["ready"] for w in http("GET", server.url + "/healthz")[1]["workers"]), 60)
                finally:
                    await asyncio.gather(*(p.close() for p in peers))
    finally:
        server.stop()
    return {
        "kills": args.kills, "back": len(times), "participants": args.participants,
        "media_again_ms_p50": _pct(times, 50), "media_again_ms_p99": _pct(times, 99),
        "media_again_ms_mean": round(statistics.fmean(times), 1) if times else None,
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.harness import NETNS_RUN, isolated

    raw = list(sys.argv[1:] if argv is None else argv)
    if not isolated():  # loopback only, like the load test
        if os.environ.get("CALLSFU_BENCH_REEXEC") == "1":
            sys.exit("benchmarks.workers: still not in a private network namespace after scripts/netns-run")
        os.environ["CALLSFU_BENCH_REEXEC"] = "1"
        os.execv(str(NETNS_RUN), [str(NETNS_RUN), sys.executable, "-m", "benchmarks.workers", *raw])
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workers", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("scaling", "proxy", "recovery"))
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--participants", type=int, default=None, help="scaling: per meeting (default 8); recovery: in the call (default 3)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--joins", type=int, default=50)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(raw)
    if args.participants is None:
        args.participants = 8 if args.what == "scaling" else 3
    sys.path.insert(0, str(ROOT))
    result = {"scaling": scaling, "proxy": proxy, "recovery": lambda a: asyncio.run(_recovery(a))}[args.what](args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
