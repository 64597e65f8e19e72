"""The SFU process's collector policy (sfu/collector.py), in a process of its own."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import gc
from sfu import collector
young, middle, _ = gc.get_threshold()
before = gc.get_freeze_count()
said = collector.settle()
assert gc.get_threshold() == (young, middle, collector.FULL_AFTER), gc.get_threshold()
assert gc.get_freeze_count() > before and str(gc.get_freeze_count()) in said, said
print("ok")
"""


def test_settle_freezes_what_exists_and_spaces_full_collections() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
