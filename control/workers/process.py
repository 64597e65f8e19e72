"""The entry point of one SFU worker process: ``python -m control.workers.process``.

Started by :class:`control.workers.pool.WorkerPool`; sets up logging as the
front process does (``--log-format``), picks the forwarding path, and runs
:func:`sfu.worker.serve` until the front lets go of it.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import signal
import sys
from typing import Sequence

from control.logs import configure as configure_logs


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when the front dies, however it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m control.workers.process", description="One SFU worker process (started by callsfu serve --workers N).")
    p.add_argument("--socket", required=True, help="the unix socket the front process connects to")
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--udp-port", type=int, default=0)
    p.add_argument("--ice-host", action="append", default=[])
    p.add_argument("--forwarding", default=None)
    p.add_argument("--max-viewers", type=int, default=100)
    p.add_argument("--loudest-audio", type=int, default=3)
    p.add_argument("--log-level", default="info")
    p.add_argument("--log-format", default="text")
    args = p.parse_args(argv)
    configure_logs(args.log_level, args.log_format)
    logging.getLogger("aioice").setLevel(logging.WARNING)
    _die_with_parent()
    from sfu.rtc import fanout
    from sfu.worker import serve

    fanout.choose(args.forwarding)
    logging.getLogger("callsfu.worker").info("forwarding path: %s", fanout.describe())
    import uvloop

    try:
        uvloop.run(serve(args.socket, args.ice_host, args.udp_port, args.index, args.max_viewers, args.loudest_audio))
    except OSError as exc:
        print(f"callsfu worker: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
