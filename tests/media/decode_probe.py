"""Run ``callsfu`` with counters on every aiortc codec (test instrumentation).

``python tests/media/decode_probe.py serve ...`` behaves exactly like
``callsfu serve ...``; on SIGUSR1 it writes to $CALLSFU_PROBE_OUT how many
times any decoder or encoder ran and which decoder threads are alive.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import aiortc.codecs.h264 as h264  # noqa: E402
import aiortc.codecs.opus as opus  # noqa: E402
import aiortc.codecs.vpx as vpx  # noqa: E402
import aiortc.rtcrtpreceiver as receiver_module  # noqa: E402

counts: dict[str, int] = {}


def count(cls: type, method: str, label: str) -> None:
    original = getattr(cls, method)

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts[label] = counts.get(label, 0) + 1
        return original(self, *args, **kwargs)

    setattr(cls, method, wrapper)


for cls, name in [(vpx.Vp8Decoder, "vp8"), (opus.OpusDecoder, "opus"), (h264.H264Decoder, "h264")]:
    count(cls, "decode", f"decode:{name}")
for cls, name in [(vpx.Vp8Encoder, "vp8"), (opus.OpusEncoder, "opus"), (h264.H264Encoder, "h264")]:
    count(cls, "encode", f"encode:{name}")

_worker = receiver_module.decoder_worker


def decoder_worker(*args: Any) -> None:
    counts["decoder_threads_started"] = counts.get("decoder_threads_started", 0) + 1
    _worker(*args)


receiver_module.decoder_worker = decoder_worker


def report(signum: int, frame: object) -> None:
    alive = [t.name for t in threading.enumerate() if t.name.endswith("-decoder")]
    Path(os.environ["CALLSFU_PROBE_OUT"]).write_text(json.dumps({"counts": counts, "decoder_threads_alive": alive}))


signal.signal(signal.SIGUSR1, report)

from control.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
