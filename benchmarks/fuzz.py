"""Fuzz every parser that takes bytes from a participant (issue 9).

    nice -n 10 .venv/bin/python -m benchmarks.fuzz [--cases 100000] [--only NAME ...]
                                                    [--seed N] [--engine atheris|hypothesis]

Runs each target of ``benchmarks/fuzz_targets.py`` for ``--cases`` inputs and
reports per target: cases, crashes (any exception other than the documented
refusal, or a broken invariant) and time; exit status 1 if anything crashed.

Engines: ``atheris`` (default when installed: coverage-guided libFuzzer over
the byte front-ends of ``benchmarks/fuzz_bytes.py``, seeded with inputs drawn
from the Hypothesis strategies and real SDP offers; one subprocess per
target, the SFU and aiortc instrumented) or ``hypothesis`` (generation only,
about 100× slower). Either way a failing input is recorded, not shrunk, and
the run goes on. The short seeded pass of the same targets runs in the
suite (tests/fuzz).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

NAMES = ["rtp_parse", "vp8_keyframe", "rewriter", "rewriter_native", "sequence_guard", "forwarder", "rtx_unwrap",
         "rtcp", "sender_reports", "sdp_check", "signaling"]  # fmt: skip
MAX_LEN = {"sdp_check": 16384, "signaling": 16384}


class Tally:
    """Counts cases and crashes of one target; a crash is keyed by type and place."""

    def __init__(self, name: str, cases: int, out: Path | None = None, progress: Any = None) -> None:
        self.name, self.cases, self.out = name, cases, out
        self.progress = progress or sys.stderr
        self.count = 0
        self.kinds: dict[str, int] = {}
        self.examples: dict[str, str] = {}
        self.started = time.perf_counter()

    def run(self, run: Callable[[Any], None], case: Any) -> None:
        self.count += 1
        try:
            run(case)
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            key = f"{type(exc).__name__} at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
            if key not in self.kinds:
                self.examples[key] = f"{str(exc)[:160]}\n  input: {repr(case)[:300]}"
                self.kinds[key] = 0
                self.save()
            self.kinds[key] += 1
        if self.count % 5000 == 0 or self.count == self.cases:
            rate = self.count / (time.perf_counter() - self.started)
            print(f"\r  {self.name}: {self.count}/{self.cases} cases, {sum(self.kinds.values())} crashes, "
                  f"{rate:.0f}/s ", end="", file=self.progress, flush=True)  # fmt: skip
            self.save()

    def result(self) -> dict[str, Any]:
        return {"target": self.name, "cases": self.count, "crashes": sum(self.kinds.values()),
                "seconds": time.perf_counter() - self.started, "kinds": self.kinds, "examples": self.examples}  # fmt: skip

    def save(self) -> None:
        if self.out is not None:
            self.out.write_text(json.dumps(self.result()))


def hypothesis_target(name: str, cases: int, rng_seed: int) -> dict[str, Any]:
    from hypothesis import HealthCheck, Phase, given, seed, settings

    from benchmarks.fuzz_targets import TARGETS

    target = next(t for t in TARGETS if t.name == name)
    tally = Tally(name, cases)

    @seed(rng_seed)
    @settings(max_examples=cases, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(target.strategy)
    def one(case: Any) -> None:
        tally.run(target.run, case)

    one()
    print(file=sys.stderr)
    return tally.result()


def atheris_child(name: str, cases: int, rng_seed: int, out: Path, corpus: Path | None) -> None:
    """Inside the subprocess: instrument, seed a corpus, run libFuzzer for ``cases`` runs."""
    import atheris

    with atheris.instrument_imports(include=["sfu", "aiortc"]):
        import sfu.core.packet  # noqa: F401  (instrumented before the targets import them)
        import sfu.core.rewriter  # noqa: F401
        import sfu.core.rtx  # noqa: F401
        import sfu.native  # noqa: F401
        import sfu.feedback.rtcp  # noqa: F401
        import sfu.routing.forwarder  # noqa: F401
        import sfu.rtc.egress  # noqa: F401
        import sfu.signaling.messages  # noqa: F401
        import sfu.signaling.sdp_check  # noqa: F401
        import aiortc.rtp  # noqa: F401
        import aiortc.sdp  # noqa: F401
    from benchmarks.fuzz_bytes import DECODERS, seeds
    from benchmarks.fuzz_targets import TARGETS

    target = next(t for t in TARGETS if t.name == name)
    decode = DECODERS[name]
    tally = Tally(name, cases, out, progress=sys.stdout)  # libFuzzer has stderr
    if corpus is None:
        corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    corpus.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(seeds(name)):
        (corpus / f"seed{i}").write_bytes(data)
    tally.started = time.perf_counter()

    def one(data: bytes) -> None:
        tally.run(target.run, decode(data))

    argv = [sys.argv[0], f"-runs={cases}", f"-seed={rng_seed}", "-print_final_stats=0",
            f"-max_len={MAX_LEN.get(name, 1024)}", "-timeout=20", "-rss_limit_mb=4096", str(corpus)]  # fmt: skip
    atheris.Setup(argv, one)
    atheris.Fuzz()


def atheris_target(name: str, cases: int, rng_seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        out, log = Path(tmp) / "result.json", Path(tmp) / "libfuzzer.log"
        with log.open("w") as err:
            cmd = [sys.executable, "-m", "benchmarks.fuzz", "--child", name, "--cases", str(cases),
                   "--seed", str(rng_seed), "--out", str(out), "--corpus", str(Path(tmp) / "corpus")]  # fmt: skip
            # the child's progress line to our stderr, libFuzzer's own output to the log
            proc = subprocess.run(cmd, stdout=sys.stderr, stderr=err, cwd=Path(__file__).resolve().parent.parent)
        print(file=sys.stderr)
        result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {
            "target": name, "cases": 0, "crashes": 0, "seconds": 0.0, "kinds": {}, "examples": {}}  # fmt: skip
        if proc.returncode != 0 and result["cases"] < cases:
            key = f"fuzzer stopped (exit {proc.returncode})"
            result["kinds"][key] = 1
            result["crashes"] += 1
            result["examples"][key] = log.read_text(errors="replace")[-600:]
        return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000, help="inputs per target (default 100000)")
    ap.add_argument("--only", nargs="*", default=None, choices=NAMES, help="target names (default: all)")
    ap.add_argument("--seed", type=int, default=9, help="random seed (default 9)")
    ap.add_argument("--engine", choices=["atheris", "hypothesis"], default=None)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        atheris_child(args.child, args.cases, args.seed, args.out, args.corpus)
        return 0
    engine = args.engine
    if engine is None:
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    run = atheris_target if engine == "atheris" else hypothesis_target
    print(f"engine: {engine}, {args.cases} cases per target, seed {args.seed}", file=sys.stderr)
    results = [run(name, args.cases, args.seed) for name in NAMES if args.only is None or name in args.only]
    from benchmarks.fuzz_targets import TARGETS

    expected = {t.name: t.expected for t in TARGETS}
    print(f"\n{'target':<16}{'cases':>9}{'crashes':>9}{'seconds':>9}{'cases/s':>9}  documented refusal")
    for r in results:
        rate = r["cases"] / r["seconds"] if r["seconds"] else 0.0
        print(f"{r['target']:<16}{r['cases']:>9}{r['crashes']:>9}{r['seconds']:>9.1f}{rate:>9.0f}  {expected[r['target']]}")
    for r in results:
        for kind, n in r["kinds"].items():
            print(f"\nCRASH {r['target']} x{n}: {kind}\n  {r['examples'][kind]}")
    return 1 if any(r["crashes"] for r in results) else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
