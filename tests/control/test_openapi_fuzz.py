"""The served OpenAPI document is what the server does: schemathesis (a
property-based API fuzzer) runs against a real ``callsfu serve`` on loopback,
with every check on (5xx, undeclared statuses, response schemas and headers,
schema-valid data refused, schema-invalid data accepted, unsupported methods,
stateful create → show → join → revoke links), and any finding fails the test.

Short and deterministic: a fixed seed and a few dozen examples per operation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import ROOT, Server

pytest.importorskip("schemathesis")

EXAMPLES = 30
SEED = 20261201

# A dead link answers 410 whatever the body (it is judged before the body):
# for schemathesis that is a refusal like 404, for valid data and invalid.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "410", "429"]
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "409", "410", "415", "429"]

# Whether a string is an SDP offer the SFU can use is beyond a schema: for
# WHIP/WHEP a schema-valid body is mostly a refused offer (400 naming why).
[[operations]]
include-path-regex = "^/wh[ie]p/"
[operations.checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "403", "404", "405", "409", "410", "429"]
"""

# SDP (WHIP/WHEP) goes on the wire as the text it is.
HOOKS = """
import schemathesis


@schemathesis.serializer("application/sdp", "application/trickle-ice-sdpfrag")
def sdp_text(ctx, value):
    return value if isinstance(value, bytes) else str(value).encode("utf-8")
"""


def fuzz(server: Server, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    (tmp_path / "callsfu_hooks.py").write_text(HOOKS)
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
        f"{server.url}/api/openapi.json", "--checks", "all", "--max-examples", str(EXAMPLES),
        "--seed", str(SEED), "--workers", "1", "--request-timeout", "10", "--no-color",
        "--generation-database", "none", *extra,
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "callsfu_hooks"}
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)


def assert_clean(run: subprocess.CompletedProcess[str], server: Server) -> None:
    report = run.stdout[-12000:] + run.stderr[-3000:]
    assert run.returncode == 0, f"schemathesis found mismatches:\n{report}\n--- server log:\n{server.log()[-3000:]}"
    assert "passed" in run.stdout and " 0 generated" not in run.stdout, report
    assert "Traceback" not in server.log(), server.log()[-3000:]


def test_the_served_document_matches_the_loopback_only_server(tmp_path: Path) -> None:
    server = Server(tmp_path / "server")
    try:
        assert_clean(fuzz(server, tmp_path), server)
    finally:
        server.stop()


def test_the_served_document_matches_a_server_with_an_api_key(tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text("fuzz-key-0123456789\n")
    server = Server(tmp_path / "server", "--api-key-file", str(key_file))
    try:
        assert_clean(fuzz(server, tmp_path, "-H", "Authorization: Bearer fuzz-key-0123456789"), server)
    finally:
        server.stop()


def test_the_fuzzer_would_see_a_mismatch(tmp_path: Path) -> None:
    """The run can fail: a document that declares too little is caught."""
    import json

    doc = json.loads((ROOT / "control" / "openapi.json").read_text())
    del doc["paths"]["/api/links/{token}"]["get"]["responses"]["404"]
    narrowed = tmp_path / "openapi.json"
    narrowed.write_text(json.dumps(doc))
    server = Server(tmp_path / "server")
    try:
        config = tmp_path / "schemathesis.toml"
        config.write_text(CONFIG)
        run = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", str(narrowed),
             "--url", server.url, "--checks", "all", "--max-examples", "10", "--seed", str(SEED),
             "--workers", "1", "--no-color", "--generation-database", "none",
             "--include-path-regex", "^/api/links/\\{token\\}$"],
            cwd=tmp_path, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert run.returncode != 0, run.stdout[-4000:]
        assert "Undocumented status code" in run.stdout, run.stdout[-4000:]  # the 404 left out
    finally:
        server.stop()
