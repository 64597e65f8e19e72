"""The load test's tables, ratios, marginal cost and plot (benchmarks/loadtest.py)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import numpy as np


def bigcall_table(runs: dict[str, list[dict[str, Any]]]) -> str:
    """bigcall beside the full meeting: download per receiver, CPU per participant, packets/s, switch, join."""
    lines = [f"{'':<10}{'N':>4}{'kbps down/receiver':>20}{'CPU %/participant':>19}{'pkt/s fwd':>11}{'switch p50/p99 ms':>19}{'all RTP p50/p99 ms':>20}"]
    for name in ("meeting", "callsfu"):
        for r in runs.get(name, []):
            if "error" in r:
                lines.append(f"{name:<10}{r.get('n', ''):>4}  error: {r['error'][:80]}")
                continue
            sw, jr = r.get("speaker_switch_ms") or {}, r.get("join_all_rtp_ms") or {}
            lines.append(f"{'bigcall' if name == 'callsfu' else name:<10}{r['n']:>4}{r.get('download_kbps_per_receiver') or 0:>20.0f}"
                         f"{r.get('cpu_pct_per_participant') or 0:>19.2f}{r['forwarded_pps']:>11.0f}"
                         f"{str(sw.get('p50')) + ' / ' + str(sw.get('p99')) if sw else '-':>19}"
                         f"{str(jr.get('p50')) + ' / ' + str(jr.get('p99')) if jr else '-':>20}")  # fmt: skip
    return "\n".join(lines)


def phases_lines(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The join storm step by step, as the load generator saw it (ms after `welcome`, p50 / p99)."""
    out = []
    for name, rs in runs.items():
        for r in rs:
            if r.get("join_phases_ms"):
                steps = ", ".join(f"{k} {v['p50']}/{v['p99']}" for k, v in r["join_phases_ms"].items())
                out.append(f"join steps, {name} {r['scenario']} N={r['n']} (ms after welcome, p50/p99): {steps}")
    return out


def marginal(runs: list[dict[str, Any]]) -> float | None:
    """Slope of server CPU (s/s) against forwarded packets/s, in µs per packet."""
    pts = [(r["forwarded_pps"], r["sfu_cpu_s"] / r["seconds"]) for r in runs if r.get("forwarded_pps")]
    if len(pts) < 2 or len({p for p, _ in pts}) < 2:
        return None
    x, y = np.array(pts).T
    return round(float(np.polyfit(x, y, 1)[0]) * 1e6, 2)


KEYS = ("sfu_cpu_us_per_packet", "forwarded_pps", "loss_pct", "latency_ms_p50", "latency_ms_p99")


def table(runs: dict[str, list[dict[str, Any]]], floor: float) -> str:
    head = (f"{'target':<12}{'scen':<8}{'N':>4}{'µs/pkt':>8}{'pkt/s out':>10}{'pkt/s in':>9}{'MB/s out':>9}"
            f"{'deliv%':>7}{'loss%':>7}{'lat p50':>8}{'lat p99':>8}{'join p50':>9}{'join p99':>9}{'CPU%':>6}{'RSS MB':>7}")  # fmt: skip
    lines = [head]

    def f(v: Any, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    for name, rs in runs.items():
        for r in rs:
            if "error" in r:
                lines.append(f"{name:<12}{r.get('scenario', ''):<8}{r.get('n', ''):>4}  error: {r['error'][:80]}")
                continue
            lines.append(
                f"{name:<12}{r['scenario']:<8}{r['n']:>4}{f(r['sfu_cpu_us_per_packet'], '.1f'):>8}{r['forwarded_pps']:>10.0f}"
                f"{r['in_pps']:>9.0f}{r['bytes_out_per_s'] / 1e6:>9.2f}{f(r['delivered_pct'], '.1f'):>7}{f(r['loss_pct'], '.2f'):>7}"
                f"{f(r['latency_ms_p50'], '.2f'):>8}{f(r['latency_ms_p99'], '.2f'):>8}"
                f"{f(r['join_to_first_frame_ms_p50'], '.0f'):>9}{f(r['join_to_first_frame_ms_p99'], '.0f'):>9}"
                f"{r['cpu_pct']:>6.0f}{r['rss_mb']:>7.0f}"
            )  # fmt: skip
    lines.append(f"floor (SRTP protect + sendto, same run): {floor:.2f} µs/packet")
    return "\n".join(lines)


def ratios(runs: dict[str, list[dict[str, Any]]], floor: float) -> dict[str, Any]:
    """callsfu's µs/packet over each other target's, pair by pair at equal N."""
    out: dict[str, Any] = {}
    ours = {r["n"]: r for r in runs.get("callsfu", []) if r.get("sfu_cpu_us_per_packet")}
    for name in ("transcoding", "janus"):
        theirs = {r["n"]: r for r in runs.get(name, []) if r.get("sfu_cpu_us_per_packet")}
        pairs = {n: round(ours[n]["sfu_cpu_us_per_packet"] / theirs[n]["sfu_cpu_us_per_packet"], 3)
                 for n in sorted(ours) if n in theirs}  # fmt: skip
        if pairs:
            out[f"callsfu_over_{name}"] = pairs
    if ours and floor:
        out["callsfu_over_floor"] = {n: round(r["sfu_cpu_us_per_packet"] / floor, 2) for n, r in sorted(ours.items())}
    return out


def plot(runs: dict[str, list[dict[str, Any]]], scenario: str, path: Path, floor: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {"callsfu": "tab:blue", "transcoding": "tab:red", "janus": "tab:green"}
    for name, rs in runs.items():
        ok = [r for r in rs if r.get("sfu_cpu_us_per_packet")]
        if not ok:
            continue
        ns = [r["n"] for r in ok]
        ax1.plot(ns, [r["sfu_cpu_us_per_packet"] for r in ok], "o-", label=name, color=colours.get(name))
        lat = [r for r in ok if r.get("latency_ms_p50") is not None]
        if lat:
            ax2.plot([r["n"] for r in lat], [r["latency_ms_p50"] for r in lat], "o-", label=f"{name} p50", color=colours.get(name))
            ax2.plot([r["n"] for r in lat], [r["latency_ms_p99"] for r in lat], "o--", label=f"{name} p99", color=colours.get(name), alpha=0.6)
    if floor:
        ax1.axhline(floor, color="grey", linestyle=":", label="floor (SRTP + sendto)")
    who = "subscribers" if scenario in ("fanout", "join") else "participants"
    ax1.set(xlabel=who, ylabel="server CPU µs per forwarded packet", title=f"{scenario}: cost per packet", yscale="log")
    ax2.set(xlabel=who, ylabel="one-way latency, ms", title=f"{scenario}: publisher → subscriber latency")
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{platform.node()} · {os.cpu_count()} CPUs · Python {platform.python_version()}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
