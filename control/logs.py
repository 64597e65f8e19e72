"""Log output: one line per event, as text or as JSON (``--log-format json``).

Text: ``TIME LEVEL LOGGER: MESSAGE [participant=ID]``; a traceback is kept on
the same line (newlines escaped), so a log shipper never splits an event.
JSON: one object per line, ``{"time", "level", "logger", "message",
"participant_id"?, "exception"?}``. Every record passes the SFU's
:class:`~sfu.logcontext.ParticipantFilter`: a media log line names its
participant (their id: never a token or a ticket).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

from sfu.logcontext import ParticipantFilter


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{_time(record)} {record.levelname} {record.name}: {record.getMessage()}"
        pid = getattr(record, "participant_id", None)
        if pid:
            line += f" [participant={pid}]"
        if record.exc_info:
            line += " | " + self.formatException(record.exc_info)
        elif record.exc_text:
            line += " | " + record.exc_text
        return line.replace("\r", "\\r").replace("\n", "\\n")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        pid = getattr(record, "participant_id", None)
        if pid:
            entry["participant_id"] = pid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str, fmt: str, stream: TextIO | None = None) -> logging.Handler:
    """Send every logger's records to ``stream`` (stderr) in ``fmt`` (text or json)."""
    if fmt not in ("text", "json"):
        raise ValueError(f"--log-format must be text or json, not {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ParticipantFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
