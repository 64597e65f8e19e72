"""The control-plane benchmark runs end to end (figures only, no timing asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_control_plane_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.control_plane", "--seconds", "0.5", "--concurrency", "4",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert (report["seconds"], report["concurrency"]) == (0.5, 4)
    assert set(report["results"]) == {"sqlite", "redis"}
    for store, ops in report["results"].items():
        assert set(ops) == {"create", "lookup", "join"}, store
        for name, figures in ops.items():
            assert figures["ops"] > 0 and figures["ops_per_s"] > 0, (store, name, figures)
            assert 0 < figures["p50_ms"] <= figures["p99_ms"], (store, name, figures)
            assert figures["errors"] == 0, (store, name, figures)
    assert "ops/s" in proc.stdout and "p99 ms" in proc.stdout  # the table
