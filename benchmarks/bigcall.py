"""The ``bigcall`` scenario's pieces (benchmarks/loadtest.py, benchmarks/synth.py).

32 participants publish Opus + VP8 in three simulcast layers (160x90, 320x180,
640x360: benchmarks/simulcast_media.py; ``--no-simulcast``: one ~300 kbps
layer); 3 of them speak (their audio carries an RFC 6464 level of -20 dBov,
the others' 127: silence); every one sends a ``view`` of 9 tiles (one large,
eight small: the speakers first, then others). Measured beside the
everyone-receives-everything meeting of the same size in the same run:
download per receiver (each one's, and the picture sizes its tiles got),
server CPU per participant, forwarded packets/s; then one speaker stops and
another starts, and each receiver's time until a ``speakers`` message names
the new one first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SPEAKERS = 3  # of the N, who speak
TILES = 9  # videos in each receiver's view
LARGE = (640, 360)  # the first tile of a view
SMALL = (160, 90)  # the others
SPEAKING_LEVEL = 20  # -dBov while speaking
SILENT_LEVEL = 127
SWITCH_WAIT = 3.0  # seconds given to the speaker switch to reach everyone


def view_names(index: int, names: list[str]) -> list[str]:
    """The names participant ``index`` shows: the speakers, then the ones after it, TILES in all."""
    me = names[index]
    ordered = names[:SPEAKERS] + names[index + 1 :] + names[SPEAKERS:index]
    return [n for n in dict.fromkeys(ordered) if n != me][:TILES]


def view_message(names: list[str], ids: dict[str, str]) -> dict[str, Any]:
    videos = []
    for i, name in enumerate(n for n in names if n in ids):
        width, height = LARGE if i == 0 else SMALL
        videos.append({"participant_id": ids[name], "width": width, "height": height})
    return {"type": "view", "videos": videos}


def stamp_levels(sender: Any, level_of: Any) -> None:
    """Every frame ``sender`` sends carries ``level_of()`` (0..127) as its RFC 6464
    level (aiortc sets none on pre-encoded packets)."""
    original = sender._next_encoded_frame

    async def next_encoded_frame(codec: Any) -> Any:
        frame = await original(codec)
        if frame is not None:
            frame.audio_level = -level_of()  # aiortc writes -audio_level
        return frame

    sender._next_encoded_frame = next_encoded_frame


def first_named_after(log: list[tuple[float, list[str]]], since: float, pid: str) -> float | None:
    """When ``pid`` first led a ``speakers`` list received after ``since``."""
    for at, speakers in log:
        if at >= since and speakers[:1] == [pid]:
            return at
    return None


def summary_ms(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"p50": None, "p99": None, "max": None, "count": 0}
    a = np.asarray(values) * 1000
    return {"p50": round(float(np.percentile(a, 50)), 1), "p99": round(float(np.percentile(a, 99)), 1),
            "max": round(float(a.max()), 1), "count": len(values)}  # fmt: skip


def per_receiver(receivers: set[str], marks: list[dict[str, Any]], status: list[dict[str, Any]], seconds: float) -> dict[str, dict[str, Any]]:
    """Each receiver's download over the window (kbit/s) and, where measured,
    how many of its videos had each picture size (``tiles``): whether the
    small tiles got the small layer."""
    rx: dict[str, int] = {}
    for m in marks:
        rx.update(m.get("rx_bytes_by_name", {}))
    sizes = {st["name"]: st.get("frame_sizes") for st in status}
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(receivers, key=lambda n: (len(n), n)):
        entry: dict[str, Any] = {"kbps": round(rx.get(name, 0) * 8 / 1000 / seconds, 1)}
        if sizes.get(name) is not None:
            entry["tiles"] = sizes[name]
        out[name] = entry
    return out


def kbps_range(per: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """min / p50 / max of the receivers' download, kbit/s."""
    if not per:
        return {"min": None, "p50": None, "max": None}
    a = np.asarray([e["kbps"] for e in per.values()])
    return {"min": round(float(a.min()), 1), "p50": round(float(np.percentile(a, 50)), 1), "max": round(float(a.max()), 1)}


def receivers_table(run: dict[str, Any]) -> str:
    """One line per receiver: its download and its tiles' picture sizes."""
    per = run.get("per_receiver") or {}
    lines = [f"bigcall N={run.get('n')} per receiver ({'simulcast' if run.get('simulcast') else 'one layer'}): kbps down, tiles by picture size"]
    for name, e in per.items():
        tiles = ", ".join(f"{size} x{count}" for size, count in (e.get("tiles") or {}).items())
        lines.append(f"  {name:<8}{e['kbps']:>8.0f}  {tiles}")
    return "\n".join(lines)


DOWNLOAD_GOAL_KBPS = 1500  # issue 11: what a phone on a cellular link can take


def plot(runs: dict[str, list[dict[str, Any]]], path: Any, title: str) -> None:
    """Bars, the full meeting beside the big call at each N: download per
    receiver (with the goal), forwarded packets/s, server CPU."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [("meeting", "everyone receives everyone", "tab:grey"), ("callsfu", f"bigcall: {TILES} tiles, {SPEAKERS} speak", "tab:blue")]
    ns = sorted({r["n"] for rs in runs.values() for r in rs})
    panels = [
        ("download_kbps_per_receiver", "download per receiver, kbit/s"),
        ("forwarded_pps", "packets forwarded per second"),
        ("cpu_pct", "server CPU, % of one core"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 4.2))
    width = 0.8 / len(series)
    for ax, (key, label) in zip(axes, panels):
        for i, (name, legend, colour) in enumerate(series):
            by_n = {r["n"]: r.get(key) for r in runs.get(name, [])}
            xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(ns))]
            values = [by_n.get(n) or 0 for n in ns]
            bars = ax.bar(xs, values, width, label=legend, color=colour)
            ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=7)
        if key == "download_kbps_per_receiver":
            ax.axhline(DOWNLOAD_GOAL_KBPS, color="tab:red", linestyle=":", label=f"goal {DOWNLOAD_GOAL_KBPS:,} kbit/s")
            ax.legend(fontsize=8, loc="upper right")
        ax.set_xticks(range(len(ns)), [f"N = {n}" for n in ns])
        ax.set(title=label)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
