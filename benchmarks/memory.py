"""Where the SFU's memory goes, per participant: a meeting grown in stages.

``python -m benchmarks.memory [--stages 0,8,16,32] [--settle 15] [--tracemalloc]``

One ``callsfu serve`` (through ``benchmarks/memory_server.py``), one video
meeting (VP8 ~300 kbps + Opus from each, as ``benchmarks.loadtest --scenario
meeting``) grown to each stage by the same synthetic participants; at each
stage, once everyone receives everyone and the packet caches had ``--settle``
seconds to fill, the server reports RSS, USS and PSS, its live Python
objects by type and, with ``--tracemalloc``, the traced bytes by file and
line (tracemalloc inflates RSS: take the MB figures from a run without it).
Prints a table and the marginal MB per participant between stages; ``--json``
writes everything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import ROOT, Workers, die_with_parent, free_port, http_json, isolated, stop_process, wait_http
from benchmarks.loadtest import make_clips
from benchmarks.synth import Spec

NETNS_RUN = ROOT / "scripts" / "netns-run"


def ensure_private_netns(argv: list[str]) -> None:
    if isolated():
        return
    if os.environ.get("CALLSFU_BENCH_REEXEC") == "1":
        sys.exit("memory: still not in a private network namespace after scripts/netns-run; refusing to run")
    os.environ["CALLSFU_BENCH_REEXEC"] = "1"
    os.execv(str(NETNS_RUN), [str(NETNS_RUN), sys.executable, "-m", "benchmarks.memory", *argv])


def probe(proc: subprocess.Popen[bytes], path: Path) -> dict[str, Any]:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    proc.send_signal(signal.SIGUSR1)
    for _ in range(600):
        if path.exists():
            return dict(json.loads(path.read_text()))
        time.sleep(0.1)
    raise RuntimeError("the server wrote no memory probe")


def measure(n: int, args: argparse.Namespace, clips: dict[str, list[bytes]]) -> dict[str, Any]:
    """A fresh server, a meeting of ``n`` joined at once (as the load test joins
    them), ``--settle`` seconds of media, then the server's probe."""
    with tempfile.TemporaryDirectory(prefix="memory-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSFU_")}
        env["CALLSFU_BENCH_PROBE"] = str(work / "probe.json")
        if args.tracemalloc:
            env["CALLSFU_BENCH_TRACEMALLOC"] = "1"
        cmd = [sys.executable, "-m", "benchmarks.memory_server", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--ice-host", "127.0.0.1", "--data-dir", str(work / "data"), "--log-level", "warning",
               "--workers", "0"]  # fmt: skip  (the SFU in the probed process)
        log = work / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=die_with_parent)
        stack.callback(stop_process, proc)
        wait_http(f"{base}/healthz", proc, "callsfu", log)
        status, body = http_json(f"{base}/api/links", {"type": "video", "title": "memory"})
        if status != 201:
            raise RuntimeError(f"could not create a link: {status} {body}")
        room = {"base": base, "token": body["token"]}
        if n:
            workers = Workers(args.workers, clips)
            stack.callback(workers.stop)
            specs = [Spec(f"p-{i}", i, video="300kbps", audio=True, target=room) for i in range(n)]
            per = [[s for i, s in enumerate(specs) if i % args.workers == w] for w in range(args.workers)]
            replies = workers.ask([("join", p, 4) if p else None for p in per], timeout=60 + 12 * n)
            errors = [r["error"] for rep in replies for r in rep if r["error"]]
            if errors:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"joins failed: {errors[:3]}; the server's log ends:\n{tail}")
            deadline = time.monotonic() + 30 + n
            while n > 1 and time.monotonic() < deadline:
                if all(st["streams"] >= 2 * (n - 1) for rep in workers.all(("status",)) for st in rep):
                    break
                time.sleep(0.5)
        time.sleep(args.settle if n else 1)
        figures = probe(proc, work / "probe.json")
        figures["participants"] = n
        return figures


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", default="0,8,16,32", help="participants at each probe (default 0,8,16,32)")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds of media before each probe (default 15)")
    parser.add_argument("--tracemalloc", action="store_true", help="trace allocations (inflates RSS)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--receiver", choices=("socket", "aiortc"), default="socket", help="the load workers' receive path")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    stages = [int(x) for x in args.stages.split(",")]
    if stages != sorted(stages) or stages[0] < 0 or stages[-1] > 32:
        parser.error("--stages: increasing, from 0 to 32")
    ensure_private_netns(argv)
    import benchmarks.synth

    benchmarks.synth.RECEIVER = args.receiver  # the workers fork with it
    clips = make_clips("meeting")
    results: list[dict[str, Any]] = []
    for n in stages:
        figures = measure(n, args, clips)
        results.append(figures)
        print(f"{n:>3} participants: RSS {figures['rss_mb']:.1f} MB, USS {figures['uss_mb']:.1f}, "
              f"PSS {figures['pss_mb']:.1f}, {figures['gc_objects']} objects", flush=True)  # fmt: skip
    print("\nmarginal MB per participant (RSS / USS):")
    for a, b in zip(results, results[1:]):
        dn = b["participants"] - a["participants"]
        print(f"  {a['participants']:>2} -> {b['participants']:>2}: {(b['rss_mb'] - a['rss_mb']) / dn:.2f} / "
              f"{(b['uss_mb'] - a['uss_mb']) / dn:.2f}")  # fmt: skip
    last = results[-1]
    print(f"\nat {last['participants']}: top object types {last['gc_top_types'][:10]}")
    if "traced_by_file_kb" in last:
        print(f"traced {last['traced_mb']:.1f} MB; by file (kB): {last['traced_by_file_kb'][:15]}")
        print(f"by line (kB, blocks): {last['traced_by_line_kb'][:15]}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
