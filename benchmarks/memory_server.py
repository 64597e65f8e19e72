"""``callsfu serve`` with memory probes, for ``benchmarks/memory.py`` only.

Runs ``control.cli`` unchanged in this process. With CALLSFU_BENCH_TRACEMALLOC
set, tracemalloc records from the start (one frame per block). On SIGUSR1 it
writes, to the file CALLSFU_BENCH_PROBE names, JSON with the process's RSS,
USS and PSS (``/proc/self/smaps_rollup``), the live objects by type, and
(with tracemalloc) the traced bytes by source file and by line.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import tracemalloc
from collections import Counter
from typing import Any


def smaps() -> dict[str, float]:
    """kB figures of /proc/self/smaps_rollup, in MB: Rss, Pss, and USS (private)."""
    fields: dict[str, float] = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                fields[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return {"rss_mb": fields.get("Rss", 0.0), "pss_mb": fields.get("Pss", 0.0),
            "uss_mb": fields.get("Private_Clean", 0.0) + fields.get("Private_Dirty", 0.0),
            "anon_mb": fields.get("Anonymous", 0.0)}  # fmt: skip


def probe() -> dict[str, Any]:
    out: dict[str, Any] = smaps()
    types = Counter(type(o).__qualname__ for o in gc.get_objects())
    out["gc_objects"] = sum(types.values())
    out["gc_top_types"] = types.most_common(20)
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot()
        by_file: Counter[str] = Counter()
        for stat in snapshot.statistics("filename"):
            name = stat.traceback[0].filename
            for marker in ("site-packages/", "/sfu/", "/control/", "/lib/python3"):
                if marker in name:
                    name = name[name.index(marker) + len(marker) :]
                    break
            by_file[name] += stat.size
        out["traced_mb"] = sum(by_file.values()) / 2**20
        out["traced_by_file_kb"] = [(f, round(b / 1024)) for f, b in by_file.most_common(25)]
        out["traced_by_line_kb"] = [
            (f"{s.traceback[0].filename.rsplit('/', 2)[-2:]}:{s.traceback[0].lineno}", round(s.size / 1024), s.count)
            for s in snapshot.statistics("lineno")[:25]
        ]
    return out


def on_probe(signum: int, frame: Any) -> None:
    path = os.environ.get("CALLSFU_BENCH_PROBE")
    if path:
        with open(path + ".tmp", "w") as f:
            json.dump(probe(), f)
        os.replace(path + ".tmp", path)


def main() -> int:
    if os.environ.pop("CALLSFU_BENCH_TRACEMALLOC", None):
        tracemalloc.start(1)
    signal.signal(signal.SIGUSR1, on_probe)
    from control.cli import main as cli_main

    return int(cli_main(sys.argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
