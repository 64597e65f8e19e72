"""docs/protocol.md keeps up with the code: every signaling message type the
server sends or accepts is documented there, and so is every webhook event."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "protocol.md").read_text()


def sent_types() -> set[str]:
    """Every ``{"type": "NAME", ...}`` dict literal in sfu/: what the server sends."""
    found: set[str] = set()
    for path in (ROOT / "sfu").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values):
                    if isinstance(key, ast.Constant) and key.value == "type" and isinstance(value, ast.Constant) and isinstance(value.value, str):
                        found.add(value.value)
    return found


def accepted_types() -> set[str]:
    """The ``type_ == "NAME"`` (or ``type_ in (...)``) the client-message parser takes."""
    found: set[str] = set()
    tree = ast.parse((ROOT / "sfu" / "signaling" / "messages.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "type_":
            for comparator in node.comparators:
                for c in ast.walk(comparator):
                    if isinstance(c, ast.Constant) and isinstance(c.value, str):
                        found.add(c.value)
    return found


def documented(name: str) -> bool:
    return re.search(r'"type":\s*"' + re.escape(name) + '"', DOC) is not None


def test_the_scan_finds_the_messages_everyone_knows() -> None:
    """(The check below cannot pass by finding nothing.)"""
    assert {"welcome", "publish_answer", "subscribe", "tracks", "error", "ended"} <= sent_types()
    assert {"publish", "subscribe_answer", "leave"} <= accepted_types()


def test_every_message_the_server_sends_is_documented() -> None:
    assert sorted(t for t in sent_types() if not documented(t)) == []


def test_every_message_the_server_accepts_is_documented() -> None:
    assert sorted(t for t in accepted_types() if not documented(t)) == []


def test_every_webhook_event_is_documented() -> None:
    from control.webhooks import EVENTS
    from sfu.events import CALL_EVENTS

    assert set(CALL_EVENTS) <= set(EVENTS)
    assert sorted(e for e in EVENTS if f"`{e}`" not in DOC) == []


def test_a_missing_message_would_be_caught() -> None:
    assert not documented("no_such_message")
