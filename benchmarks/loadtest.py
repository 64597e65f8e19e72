"""Load test: callsfu side by side with a transcoding relay, Janus, and the floor.

    python -m benchmarks.loadtest [--scenario fanout|meeting|audio|join|bigcall]
        [--subscribers N | --sweep 1,4,16,31] [--participants N] [--seconds S]
        [--baselines transcoding,janus|none] [--json FILE] [--plot FILE.png] [--quick] [--no-simulcast]

(also ``callsfu-bench ARGS`` or ``python -m benchmarks ARGS``). It starts every server itself on 127.0.0.1
inside a private network namespace (re-executing itself under
``scripts/netns-run`` when started outside one), joins synthetic participants
through each server's own API and signaling from worker processes (never
inside the server's process), measures, and stops everything it started,
also on Ctrl-C, SIGTERM or an error.

Scenarios:
  fanout   1 publisher (VP8, ~1 Mbps, 640x360 at 30 fps) -> N subscribers
  meeting  N people, each publishes Opus + VP8 (~300 kbps) and receives everyone
  audio    N people, Opus only, everyone receives everyone
  join     1 publisher streaming; N subscribers join at once: time to first frame
  bigcall  N people (default 32) as in a meeting, but 3 speak (RFC 6464 levels) and each
           shows 9 tiles (a `view`): beside the meeting of N in the same run, download
           per receiver, CPU per participant, forwarded packets/s, and the time a
           speaker switch takes to reach every receiver (benchmarks/bigcall.py); its publishers
           send three simulcast layers (160x90, 320x180, 640x360; --no-simulcast: one layer)
           and each receiver's download and its tiles' picture sizes are reported

In meeting, audio and bigcall, each participant's time from its welcome until
RTP from every other participant's streams arrived is reported too
(``join_all_rtp_ms``; in bigcall, until its view's videos and the speakers' audio).

Per target and N it reports the server process's CPU time per forwarded
packet (utime+stime from /proc/PID/stat over the measurement window, divided
by the packets the subscribers received), packets and bytes per second in and
out, loss (sequence gaps per received SSRC), one-way latency publisher ->
subscriber through the server (p50/p99; same machine, same clock), join to
first keyframe, and the server's resident memory. The floor (SRTP protect +
one sendto per packet) is measured in the same run. Targets are run one after
the other for each N (interleaved), under the same load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from benchmarks.harness import (
    ROOT,
    Workers,
    cpu_seconds,
    ensure_private_netns,
    isolated,
    note,
    progress,
    rss_mb,
    start_target,
)
from benchmarks.report import KEYS, bigcall_table, marginal, phases_lines, plot, ratios, table

SCENARIOS = ("fanout", "meeting", "audio", "join", "bigcall")
TARGETS = ("callsfu", "transcoding", "janus")
PER_ROOM = 31  # subscribers per call in fan-out: callsfu's limit is 32 people per call
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- one run: one target, one scenario, one N ------------------------------------------------------------------
def join_phases(phases: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each step of the join storm (ms after each one's `welcome`): p50 and p99 over the participants, in order."""
    names = sorted({k for p in phases for k in p}, key=lambda k: float(np.median([p[k] for p in phases if k in p])))
    return {k: {"p50": round(float(np.percentile(v, 50))), "p99": round(float(np.percentile(v, 99))), "count": len(v)}
            for k in names if (v := [p[k] for p in phases if k in p])}  # fmt: skip


def run_once(target_name: str, scenario: str, n: int, args: argparse.Namespace, clips: dict[str, list[bytes]]) -> dict[str, Any]:
    from benchmarks import bigcall
    from benchmarks.simulcast_media import CLIP as SIMULCAST_CLIP
    from benchmarks.synth import Spec

    label = f"{target_name} {scenario} N={n}"
    result: dict[str, Any] = {"target": target_name, "scenario": scenario, "n": n}
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"loadtest-{target_name}-")))
        note(f"{label}: starting {target_name}")
        target = stack.enter_context(start_target(target_name, workdir, os.cpu_count() or 2, args.sfu_workers))
        note(f"{label}: {target_name} is pid {target.pid}")
        workers = Workers(args.workers, clips)
        stack.callback(workers.stop)
        room = target.room("audio" if scenario == "audio" else "video")
        driver = target.driver
        W = args.workers

        # who is who
        publishers: list[Spec] = []
        subscribers: list[Spec] = []
        if scenario in ("fanout", "join"):
            # a call holds 32 people: beyond 31 subscribers, several calls, each with its own
            # publisher of the same stream (the same split for every target: same load)
            rooms = [room] + [target.room("video") for _ in range(1, -(-n // PER_ROOM))]
            for r, rm in enumerate(rooms):
                publishers.append(Spec(f"pub-{r}", r, video="1mbps", subscribe=False, driver=driver, target=rm))
            subscribers = [Spec(f"sub-{i}", i + 1, driver=driver, target=rooms[i % len(rooms)]) for i in range(n)]
            publisher_of = {s.name: f"pub-{i % len(rooms)}" for i, s in enumerate(subscribers)}
            expected_streams = 1
            fanout = n / len(rooms)
            result["calls"] = len(rooms)
        elif scenario == "bigcall":
            names = [f"p-{i}" for i in range(n)]
            publishers = [
                Spec(name, i, video=SIMULCAST_CLIP if args.simulcast else "300kbps", audio=True, driver=driver, target=room,
                     level=bigcall.SPEAKING_LEVEL - (10 if i == bigcall.SPEAKERS else 0),  # the next speaker: louder
                     speaking=i < bigcall.SPEAKERS, view=bigcall.view_names(i, names))
                for i, name in enumerate(names)
            ]  # fmt: skip
            for p in publishers:  # its view's videos and the speakers' audio (not its own)
                p.expected_streams = len(p.view) + sum(1 for i in range(min(n, bigcall.SPEAKERS)) if i != p.index)
            expected_streams = min(p.expected_streams for p in publishers)
            fanout = 0  # (what each receiver gets depends on its view: delivered % is not computed)
        else:
            video = "300kbps" if scenario == "meeting" else None
            expected_streams = (n - 1) * (2 if video else 1)
            # --calls K: K meetings of n at once (placed on the SFU workers: --sfu-workers)
            rooms = [room] + [target.room("audio" if scenario == "audio" else "video") for _ in range(1, args.calls)]
            publishers = [
                Spec(f"p-{c}-{i}" if args.calls > 1 else f"p-{i}", i, video=video, audio=True, driver=driver, target=rooms[c],
                     expected_streams=expected_streams)
                for c in range(args.calls) for i in range(n)
            ]  # fmt: skip
            fanout = n - 1
            result["calls"] = args.calls
        where: dict[str, int] = {}
        plan: list[list[Spec]] = [[] for _ in range(W)]
        for i, s in enumerate(publishers + subscribers):
            # the single publisher of a fan-out shares worker 0; subscribers spread round robin
            w = i % W
            plan[w].append(s)
            where[s.name] = w

        def join(specs: list[Spec], batch: int) -> list[dict[str, Any]]:
            per = [[s for s in specs if where[s.name] == w] for w in range(W)]
            replies = workers.ask([("join", p, batch) if p else None for p in per], timeout=60 + 2 * len(specs))
            return [r for rep in replies for r in rep]

        # phase 1: publishers (in a meeting, everyone)
        t_join = time.monotonic()
        joined = join(publishers, 8)
        errors = [f"{j['name']}: {j['error']}" for j in joined if j["error"]]
        if errors and len(errors) == len(joined):
            raise RuntimeError(f"{label}: no publisher could join: {errors[0]}")
        feeds = {j["name"]: j["feed"] for j in joined}
        if scenario == "join":
            time.sleep(1.5)  # the publisher is streaming before the crowd arrives
        # phase 2: subscribers (all at once in the join scenario)
        if driver == "janus":
            if subscribers:
                for s in subscribers:
                    s.feeds = [feeds[publisher_of[s.name]]]
                errors += [f"{j['name']}: {j['error']}" for j in join(subscribers, n if scenario == "join" else 8) if j["error"]]
            else:  # everyone subscribes to everyone else's feed on one connection
                per: list[list[tuple[str, list[int]]]] = [[] for _ in range(W)]
                for s in publishers:
                    per[where[s.name]].append((s.name, [f for name, f in feeds.items() if name != s.name and f is not None]))
                replies = workers.ask([("subscribe_janus", p) if p else None for p in per], timeout=60 + 2 * n)
                errors += [f"{r['name']}: {r['error']}" for rep in replies for r in rep if r["error"]]
        elif subscribers:
            errors += [f"{j['name']}: {j['error']}" for j in join(subscribers, n if scenario == "join" else 8) if j["error"]]
        receivers = {s.name for s in (subscribers or publishers)}

        # wait until every receiver gets every stream it should
        deadline = time.monotonic() + args.ready_timeout + 0.3 * n
        ready = 0
        while True:
            status = [st for rep in workers.all(("status",)) for st in rep]
            ready = sum(1 for st in status if st["name"] in receivers and st["streams"] >= expected_streams)
            progress(label, 0, args.seconds, f"receiving: {ready}/{len(receivers)}")
            if ready == len(receivers) or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        result["setup_s"] = round(time.monotonic() - t_join, 2)
        time.sleep(args.warmup)

        # the measurement window
        offers0 = sum(st["offers"] for rep in workers.all(("status",)) for st in rep)
        workers.all(("mark",))
        server_cpu = lambda: sum(cpu_seconds(pid) for pid in target.pids())  # noqa: E731
        cpu0, wcpu0, t0 = server_cpu(), workers.cpu_seconds(), time.monotonic()
        while (elapsed := time.monotonic() - t0) < args.seconds:
            time.sleep(min(1.0, args.seconds - elapsed))
            el = time.monotonic() - t0
            progress(label, el, args.seconds, f"server CPU {100 * (server_cpu() - cpu0) / el:.0f}%")
        marks = workers.all(("mark",))
        cpu1, wcpu1, t1 = server_cpu(), workers.cpu_seconds(), time.monotonic()
        rss = sum(rss_mb(pid) for pid in target.pids())
        status = [st for rep in workers.all(("status",)) for st in rep]
        sys.stderr.write("\n")
        if scenario == "bigcall" and n > bigcall.SPEAKERS:
            # the first speaker stops, a louder one starts: how soon does each receiver hear of it?
            new = f"p-{bigcall.SPEAKERS}"
            switched_at = time.monotonic()
            workers.all(("speak", {"p-0": False, new: True}))
            time.sleep(bigcall.SWITCH_WAIT)
            led = [r for rep in workers.all(("led_since", switched_at, new)) for r in rep]
            delays = [r["at"] - switched_at for r in led if r["at"] is not None]
            result["speaker_switch_ms"] = bigcall.summary_ms(delays)
            result["speaker_switch_reached"] = f"{len(delays)}/{len(led)}"

    dt = t1 - t0
    rx = sum(m["rx_packets"] for m in marks)
    tx = sum(m["tx_packets"] for m in marks)
    received = sum(m["received"] for m in marks)
    expected = sum(m["expected"] for m in marks)
    lat_a = np.concatenate([m["latency_audio"] for m in marks]) * 1000 if marks else np.zeros(0)
    lat_v = np.concatenate([m["latency_video"] for m in marks]) * 1000 if marks else np.zeros(0)
    lat = np.concatenate([lat_a, lat_v])

    def pct(a: np.ndarray, p: float) -> float | None:
        return round(float(np.percentile(a, p)), 2) if len(a) else None

    first = [st["first_frame_ms"] for st in status if st["name"] in receivers and st["first_frame_ms"] is not None]
    all_rtp = {st["name"]: None if st.get("all_rtp_ms") is None else round(st["all_rtp_ms"], 1) for st in status if st["name"] in receivers}
    if scenario in ("meeting", "audio", "bigcall"):
        got = [v / 1000 for v in all_rtp.values() if v is not None]
        result["join_all_rtp_ms"] = {**bigcall.summary_ms(got), "reached": f"{len(got)}/{len(all_rtp)}", "per_participant": all_rtp}
        result["join_phases_ms"] = join_phases([st.get("phases_ms") or {} for st in status if st["name"] in receivers])
    if scenario in ("meeting", "bigcall"):
        result["download_kbps_per_receiver"] = round(sum(m["rx_bytes"] for m in marks) * 8 / 1000 / (t1 - t0) / max(1, len(receivers)), 1)
        result["cpu_pct_per_participant"] = round(100 * (cpu1 - cpu0) / (t1 - t0) / (n * result.get("calls", 1)), 2)
        result["per_receiver"] = bigcall.per_receiver(receivers, marks, status, t1 - t0)
        result["download_kbps_range"] = bigcall.kbps_range(result["per_receiver"])
    if scenario == "bigcall":
        result["simulcast"] = bool(args.simulcast)
    cpu = cpu1 - cpu0
    decoded = next((m["decoded"] for m in marks if m["decoded"]), None)
    result.update({
        "seconds": round(dt, 2),
        "receivers_ready": f"{ready}/{len(receivers)}",
        "fanout": fanout,
        "sfu_cpu_s": round(cpu, 3),
        "cpu_pct": round(100 * cpu / dt, 1),
        "sfu_cpu_us_per_packet": round(cpu / rx * 1e6, 2) if rx else None,
        "sfu_cpu_us_per_expected_packet": round(cpu / (tx * fanout) * 1e6, 2) if tx and fanout else None,
        "forwarded_pps": round(rx / dt, 1),
        "in_pps": round(tx / dt, 1),
        "expected_pps": round(tx * fanout / dt, 1),
        "delivered_pct": round(100 * rx / (tx * fanout), 1) if tx and fanout else None,
        "bytes_out_per_s": round(sum(m["rx_bytes"] for m in marks) / dt),
        "bytes_in_per_s": round(sum(m["tx_bytes"] for m in marks) / dt),
        "loss_pct": round(100 * max(0, expected - received) / expected, 3) if expected else None,
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 2) if len(lat) else None,
        "latency_ms_p99": round(float(np.percentile(lat, 99)), 2) if len(lat) else None,
        "latency_samples": int(len(lat)),
        "latency_video_ms_p50": pct(lat_v, 50), "latency_video_ms_p99": pct(lat_v, 99),
        "latency_audio_ms_p50": pct(lat_a, 50), "latency_audio_ms_p99": pct(lat_a, 99),
        "join_to_first_frame_ms_p50": round(float(np.percentile(first, 50)), 1) if first else None,
        "join_to_first_frame_ms_p99": round(float(np.percentile(first, 99)), 1) if first else None,
        "rss_mb": round(rss, 1),
        "load_cpu_pct": round(100 * (wcpu1 - wcpu0) / dt, 1),
        "keyframes_sent": sum(st["keyframes_sent"] for st in status),
        "subscribe_offers_in_window": sum(st["offers"] for st in status) - offers0,
        "decoded_sample": decoded,
        "receiver": benchmarks_receiver(),
        "srtp_errors": sum(m.get("srtp_errors", 0) for m in marks),
        "errors": errors[:10],
    })  # fmt: skip
    result["sfu_workers"] = args.sfu_workers if target_name == "callsfu" else None
    if result.get("calls", 1) > 1 and scenario in ("fanout", "join"):
        result["note"] = f"{result['calls']} calls of 1 publisher + up to {PER_ROOM} subscribers (32 people per call)"
    if target_name == "transcoding" and not len(lat):
        result["latency_note"] = "not measurable: the relay re-encodes, so payloads can't be matched to their send time"
    return result


def make_clips(scenario: str, simulcast: bool = False) -> dict[str, list[bytes]]:
    from benchmarks.media import PROFILES, encode_vp8
    from benchmarks.simulcast_media import encode_layers

    wanted = {"fanout": ["1mbps"], "join": ["1mbps"], "meeting": ["300kbps"], "audio": [], "bigcall": ["300kbps"]}[scenario]
    clips = {name: encode_vp8(PROFILES[name]) for name in wanted}
    return clips | (encode_layers() if simulcast else {})  # bigcall: its own meeting keeps one layer


def benchmarks_receiver() -> str:
    from benchmarks import synth

    return f"{synth.RECEIVER} (1 in {synth.DECRYPT_EVERY} decrypted and timed)" if synth.RECEIVER == "socket" else synth.RECEIVER


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `callsfu-bench -- --quick ...` (as the old `callsfu bench --` took it)
        argv = argv[1:]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadtest", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])  # fmt: skip
    parser.add_argument("--scenario", choices=SCENARIOS, default="fanout")
    parser.add_argument("--subscribers", type=int, help="fanout/join: subscribers (default 16)")
    parser.add_argument("--participants", type=int, help="meeting/audio: participants (default 8 / 16); join: joiners")
    parser.add_argument("--sweep", help="several N, comma separated (e.g. 1,4,16,31): per-N results and the marginal cost")
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window per run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of traffic before measuring (default 2)")
    parser.add_argument("--baselines", default="transcoding,janus", help="transcoding,janus (default), a subset, or none")
    parser.add_argument("--transcoding-max", type=int, default=16, help="largest N given to the transcoding relay (default 16: beyond, it only drowns)")
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes (default 2)")
    parser.add_argument("--sfu-workers", type=int, default=0, help="callsfu serve --workers: its SFU worker processes (default 0: the SFU in the server process, as in the earlier runs; CPU and RSS count every process)")
    parser.add_argument("--calls", type=int, default=1, help="meeting/audio: this many calls of --participants at once (e.g. --calls 4 --participants 8)")
    parser.add_argument("--receiver", choices=("socket", "aiortc"), default="socket",
                        help="load workers' receive path: socket (count SRTP headers in the datagram callback, "
                             "decrypt and time a sample; default) or aiortc (every packet through aiortc)")  # fmt: skip
    parser.add_argument("--ready-timeout", type=float, default=20.0, help="seconds to wait for media to reach every receiver")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--plot", type=Path, help="draw CPU per packet and latency against N to this PNG")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (small N, 2 s windows)")
    parser.add_argument("--simulcast", action=argparse.BooleanOptionalAction, default=None,
                        help="bigcall: publishers send three simulcast layers (default on; --no-simulcast: one ~300 kbps layer)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.simulcast and args.scenario != "bigcall":
        parser.error("--simulcast is for the bigcall scenario")
    args.simulcast = args.scenario == "bigcall" and args.simulcast is not False

    baselines = [] if args.baselines.strip() in ("", "none") else [b.strip() for b in args.baselines.split(",")]
    for b in baselines:
        if b not in ("transcoding", "janus"):
            parser.error(f"unknown baseline {b!r} (transcoding, janus or none)")
    if args.calls < 1 or args.sfu_workers < 0:
        parser.error("--calls must be at least 1 and --sfu-workers at least 0")
    if args.calls > 1:
        baselines = []  # several calls at once: callsfu's --sfu-workers 1 against 2 (the baselines' drivers take one room)
    if args.scenario == "bigcall":
        baselines = []  # callsfu's bigcall beside callsfu's full meeting of the same N
    default_n = {"fanout": 16, "join": 16, "meeting": 8, "audio": 16, "bigcall": 32}[args.scenario]
    n_arg = args.subscribers if args.scenario in ("fanout", "join") else args.participants
    if args.scenario == "join" and args.participants and not args.subscribers:
        n_arg = args.participants
    if args.sweep:
        ns = [int(x) for x in args.sweep.split(",") if x.strip()]
    else:
        ns = [n_arg or default_n]
    if args.quick:
        quick_n = {"fanout": 4, "join": 4, "bigcall": 6}.get(args.scenario, 3)
        ns = [min(n, quick_n) for n in ns][:1] if not args.sweep else ns
        args.seconds, args.warmup, args.ready_timeout = min(args.seconds, 2.0), min(args.warmup, 0.5), min(args.ready_timeout, 15.0)
    if any(n < 1 for n in ns) or (args.scenario in ("meeting", "audio") and any(n < 2 for n in ns)):
        parser.error("N must be at least 1 (2 for meeting and audio)")
    if "janus" in baselines and not isolated() and not shutil.which("janus"):
        # apt needs the network: install before entering the loopback-only namespace
        print("installing Janus for the baseline (apt-get install janus)...", flush=True)
        subprocess.run([str(ROOT / "benchmarks" / "install_janus.sh")], check=False)
    ensure_private_netns(argv)
    import benchmarks.synth

    benchmarks.synth.RECEIVER = args.receiver  # the workers fork with it

    from benchmarks.floor import floor_us_per_packet, native_floor_us_per_packet

    targets = ["callsfu", *baselines]
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    if args.scenario == "bigcall":
        runs["meeting"] = []  # the everyone-receives-everything meeting, same N, same run
    floors: list[float] = []
    native_floors: list[float] = []  # the same loop from C (sfu/native), when built
    janus_error = None
    if "janus" in targets:
        from benchmarks.baselines.janus import prepare

        janus_error = prepare()
    interrupted = False

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    load_before = os.getloadavg()
    try:
        note(f"encoding the synthetic media once ({args.scenario})")
        clips = make_clips(args.scenario, args.simulcast)
        for n in ns:
            floors.append(floor_us_per_packet(30_000 if args.quick else 100_000))
            c_floor = native_floor_us_per_packet(30_000 if args.quick else 100_000)
            if c_floor is not None:
                native_floors.append(c_floor)
            if args.scenario == "bigcall":
                try:
                    runs["meeting"].append(run_once("callsfu", "meeting", n, args, clips))
                except KeyboardInterrupt:
                    raise
                except Exception as exc:
                    note(f"meeting N={n} failed: {exc}")
                    runs["meeting"].append({"target": "callsfu", "scenario": "meeting", "n": n, "error": str(exc)[:1000]})
            for t in targets:
                if t == "janus" and janus_error:
                    runs[t].append({"target": t, "scenario": args.scenario, "n": n, "error": janus_error})
                    continue
                if t == "transcoding" and n > args.transcoding_max:
                    runs[t].append({"target": t, "scenario": args.scenario, "n": n,
                                    "error": f"skipped: N above --transcoding-max {args.transcoding_max}"})  # fmt: skip
                    continue
                try:
                    runs[t].append(run_once(t, args.scenario, n, args, clips))
                except KeyboardInterrupt:
                    raise
                except Exception as exc:
                    sys.stderr.write("\n")
                    note(f"{t} N={n} failed: {exc}")
                    runs[t].append({"target": t, "scenario": args.scenario, "n": n, "error": str(exc)[:1000]})
    except KeyboardInterrupt:
        interrupted = True
        note("\nloadtest: interrupted; everything it started is stopped")
    load_after = os.getloadavg()
    floor = float(np.median(floors)) if floors else 0.0

    print()
    print(table(runs, floor))
    print(*phases_lines(runs), sep="\n")
    if args.scenario == "bigcall":
        from benchmarks.bigcall import receivers_table

        print(bigcall_table(runs), *(receivers_table(r) for r in runs["callsfu"] if "per_receiver" in r), sep="\n")
    native_floor = round(float(np.median(native_floors)), 2) if native_floors else None
    if native_floor is not None:
        print(f"native floor (C: rewrite + SRTP protect + sendto, same run): {native_floor:.2f} µs/packet")
    rat = ratios(runs, floor)
    for k, v in rat.items():
        print(f"{k}: " + ", ".join(f"N={n}: {x}" for n, x in v.items()))
    slopes = {t: marginal([r for r in rs if "error" not in r]) for t, rs in runs.items()}
    if any(v is not None for v in slopes.values()):
        print("marginal µs per forwarded packet (slope of CPU over packets/s): "
              + ", ".join(f"{t} {v}" for t, v in slopes.items() if v is not None))  # fmt: skip
    print(f"{os.cpu_count()} CPUs; 1-minute load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
          "(server, load workers and other work share the machine)")  # fmt: skip

    ok = [r for r in runs["callsfu"] if "error" not in r]
    top = ok[-1] if ok else (runs["callsfu"][-1] if runs["callsfu"] else {})
    report: dict[str, Any] = {k: top.get(k) for k in KEYS}
    report["floor_us_per_packet"] = round(floor, 2)
    report["native_floor_us_per_packet"] = native_floor
    report["baselines"] = {}
    for b in ("transcoding", "janus"):
        rs = runs.get(b)
        if not rs:
            report["baselines"][b] = {"error": "not run (--baselines)"}
            continue
        same = [r for r in rs if r.get("n") == top.get("n") and "error" not in r]
        good = [r for r in rs if "error" not in r]
        pick = same[-1] if same else (good[-1] if good else rs[-1])
        entry = {k: pick.get(k) for k in KEYS}
        entry["n"] = pick.get("n")
        if "error" in pick:
            entry["error"] = pick["error"]
        report["baselines"][b] = entry
    report.update({
        "scenario": args.scenario,
        "n": top.get("n"),
        "join_to_first_frame_ms_p50": top.get("join_to_first_frame_ms_p50"),
        "join_to_first_frame_ms_p99": top.get("join_to_first_frame_ms_p99"),
        "rss_mb": top.get("rss_mb"),
        "bytes_out_per_s": top.get("bytes_out_per_s"),
        "in_pps": top.get("in_pps"),
        "ratios": rat,
        "marginal_us_per_packet": slopes,
        "runs": runs,
        "floors_us_per_packet": [round(f, 2) for f in floors],
        "seconds": args.seconds,
        "quick": args.quick,
        "interrupted": interrupted,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "loadavg_1min": [round(load_before[0], 2), round(load_after[0], 2)]},
    })  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    if args.plot and args.scenario == "bigcall":
        from benchmarks import bigcall

        bigcall.plot(runs, args.plot, f"{platform.node()} · {os.cpu_count()} CPUs · Python {platform.python_version()}")
    elif args.plot:
        plot(runs, args.scenario, args.plot, floor)
    if interrupted:
        return 130
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
