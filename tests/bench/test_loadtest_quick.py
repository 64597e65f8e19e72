"""The load test runs end to end in --quick mode (figures only, no timing asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("sfu_cpu_us_per_packet", "forwarded_pps", "loss_pct", "latency_ms_p50", "latency_ms_p99")


def run_loadtest(tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    out = tmp_path / "loadtest.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.loadtest", "--quick", "--json", str(out), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def check_figures(figures: dict[str, Any], latency: bool = True) -> None:
    assert figures["sfu_cpu_us_per_packet"] > 0, figures
    assert figures["forwarded_pps"] > 0, figures
    assert isinstance(figures["loss_pct"], (int, float)) and figures["loss_pct"] >= 0, figures
    if latency:
        assert 0 < figures["latency_ms_p50"] <= figures["latency_ms_p99"], figures


@pytest.mark.parametrize("scenario", ["fanout", "meeting", "audio", "join"])
def test_quick_scenario(tmp_path: Path, scenario: str) -> None:
    report, stdout = run_loadtest(tmp_path, "--scenario", scenario, "--baselines", "none")
    for key in (*KEYS, "floor_us_per_packet", "baselines"):
        assert key in report, key
    check_figures(report)
    assert report["floor_us_per_packet"] > 0
    assert report["rss_mb"] > 0
    run = report["runs"]["callsfu"][0]
    assert run["receivers_ready"].split("/")[0] == run["receivers_ready"].split("/")[1], run
    assert not run["errors"], run
    assert run["receiver"].startswith("socket") and run["srtp_errors"] == 0, run  # the sample decrypts
    if scenario in ("fanout", "join"):
        assert report["join_to_first_frame_ms_p50"] > 0
    if scenario != "audio":
        assert run["decoded_sample"] in ("640x360", "320x240"), run  # the media survived the SFU intact
    assert set(report["baselines"]) == {"transcoding", "janus"}
    assert all("error" in b for b in report["baselines"].values())  # not run: said so
    assert "µs/pkt" in stdout and "floor" in stdout  # the table


def test_quick_fanout_with_transcoding_baseline(tmp_path: Path) -> None:
    report, stdout = run_loadtest(tmp_path, "--scenario", "fanout", "--baselines", "transcoding", "--plot",
                                  str(tmp_path / "p.png"), "--receiver", "aiortc")  # (the other receive path)
    check_figures(report)
    relay = report["baselines"]["transcoding"]
    check_figures(relay, latency=False)  # re-encoded payloads: no send time to match
    assert "callsfu_over_transcoding" in report["ratios"]
    assert (tmp_path / "p.png").stat().st_size > 1000
    assert "error" in report["baselines"]["janus"]


def test_quick_bigcall_publishes_simulcast_and_small_tiles_get_the_small_layer(tmp_path: Path) -> None:
    report, stdout = run_loadtest(tmp_path, "--scenario", "bigcall", "--baselines", "none", "--plot", str(tmp_path / "b.png"))
    run, meeting = report["runs"]["callsfu"][0], report["runs"]["meeting"][0]
    assert run["simulcast"] is True and not run["errors"] and run["srtp_errors"] == 0, run
    assert run["receivers_ready"] == "6/6", run
    tiles = {name: e.get("tiles") for name, e in run["per_receiver"].items()}
    assert tiles == {f"p-{i}": {"640x360": 1, "160x90": 4} for i in range(6)}, tiles  # one large tile, four small
    assert run["download_kbps_per_receiver"] < 0.7 * meeting["download_kbps_per_receiver"], (run, meeting)
    assert run["download_kbps_range"]["max"] < 1500, run
    assert "per receiver (simulcast)" in stdout and "640x360 x1, 160x90 x4" in stdout
    assert (tmp_path / "b.png").stat().st_size > 1000  # the bars: download, packets/s, CPU
