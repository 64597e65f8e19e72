"""Without a working compiler the build says so plainly and still succeeds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.server import ROOT


def test_a_failed_compile_is_a_clear_warning_not_a_failed_install(tmp_path: Path) -> None:
    env = {**os.environ, "CC": "/bin/false"}
    cmd = [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(tmp_path / "lib"),
           "--build-temp", str(tmp_path / "tmp")]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "the native fan-out (sfu/native/_fanout) could not be built" in done.stderr
    assert "pure-Python path" in done.stderr
    assert not list((tmp_path / "lib").rglob("_fanout*.so"))


def test_without_the_extension_the_package_reports_why() -> None:
    code = (
        "import sys; sys.modules['sfu.native._fanout'] = None\n"
        "import sfu.native as n; print(n.AVAILABLE, bool(n.BUILD_ERROR))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "True"], done.stderr
