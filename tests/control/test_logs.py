"""Log output: one line per event, text or JSON, with the participant it is about."""

from __future__ import annotations

import io
import json
import logging

from control.logs import configure
from sfu.logcontext import PARTICIPANT, about


def _emit(fmt: str) -> list[str]:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure("info", fmt, stream)
        log = logging.getLogger("callsfu.sfu")
        log.info("DTLS up as %s", "server", extra=about("p_0123456789abcdef"))
        token = PARTICIPANT.set("p_fedcba9876543210")
        try:
            raise RuntimeError("boom\nsecond line")
        except RuntimeError:
            log.exception("forwarding failed")
        finally:
            PARTICIPANT.reset(token)
        logging.getLogger("callsfu").info("nobody's")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    return stream.getvalue().splitlines()


def test_json_is_one_object_per_line_with_the_participant() -> None:
    lines = _emit("json")
    assert len(lines) == 3
    entries = [json.loads(line) for line in lines]
    assert entries[0]["participant_id"] == "p_0123456789abcdef" and entries[0]["message"] == "DTLS up as server"
    assert entries[1]["participant_id"] == "p_fedcba9876543210" and "RuntimeError: boom" in entries[1]["exception"]
    assert "participant_id" not in entries[2] and entries[2]["level"] == "info"


def test_text_keeps_a_traceback_on_its_line() -> None:
    lines = _emit("text")
    assert len(lines) == 3
    assert lines[0].endswith("DTLS up as server [participant=p_0123456789abcdef]")
    assert "Traceback" in lines[1] and "[participant=p_fedcba9876543210]" in lines[1]
