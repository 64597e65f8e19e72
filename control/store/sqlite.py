"""The embedded store: one SQLite file (WAL) under ``--data-dir``.

Queries are sub-millisecond, so they run on the event loop; seat reservation
uses ``BEGIN IMMEDIATE`` so it stays atomic even if several processes share
the file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import AsyncIterator

from control.store.base import CallType, LinkRecord, SeatRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS links (
    token_hash TEXT PRIMARY KEY,
    type TEXT NOT NULL CHECK (type IN ('audio', 'video')),
    title TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    max_participants INTEGER NOT NULL,
    revoked_at REAL,
    e2ee INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS seats (
    participant_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL REFERENCES links(token_hash),
    name TEXT NOT NULL,
    ticket_hash TEXT UNIQUE,
    ticket_expires_at REAL NOT NULL,
    connected INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS seats_by_link ON seats(token_hash);
CREATE INDEX IF NOT EXISTS unused_tickets ON seats(ticket_expires_at) WHERE connected = 0;
"""


class SqliteStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Columns added since a data directory was created (SQLite has no ADD COLUMN IF NOT EXISTS)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(links)")}
        if "e2ee" not in columns:
            self._db.execute("ALTER TABLE links ADD COLUMN e2ee INTEGER NOT NULL DEFAULT 0")

    @classmethod
    def in_dir(cls, data_dir: Path) -> SqliteStore:
        return cls(data_dir / "callsfu.sqlite3")

    async def create_link(self, link: LinkRecord) -> None:
        self._db.execute(
            "INSERT INTO links (token_hash, type, title, created_at, expires_at, max_participants,"
            " revoked_at, e2ee) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                link.token_hash,
                link.type,
                link.title,
                link.created_at,
                link.expires_at,
                link.max_participants,
                link.revoked_at,
                int(link.e2ee),
            ),
        )

    async def get_link(self, token_hash: str) -> LinkRecord | None:
        row = self._db.execute(
            "SELECT token_hash, type, title, created_at, expires_at, max_participants,"
            " revoked_at, e2ee FROM links WHERE token_hash = ?",
            (token_hash,),
        ).fetchone()
        if row is None:
            return None
        call_type: CallType = "audio" if row[1] == "audio" else "video"
        return LinkRecord(row[0], call_type, row[2], row[3], row[4], row[5], row[6], bool(row[7]))

    async def revoke_link(self, token_hash: str, now: float) -> None:
        self._db.execute(
            "UPDATE links SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
            (now, token_hash),
        )

    async def reserve_seat(
        self,
        token_hash: str,
        participant_id: str,
        name: str,
        ticket_hash: str,
        ticket_expires_at: float,
        now: float,
        max_participants: int,
    ) -> bool:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "DELETE FROM seats WHERE connected = 0 AND ticket_expires_at <= ?", (now,)
            )
            (held,) = db.execute(
                "SELECT COUNT(*) FROM seats WHERE token_hash = ?", (token_hash,)
            ).fetchone()
            if held >= max_participants:
                db.execute("ROLLBACK")
                return False
            db.execute(
                "INSERT INTO seats VALUES (?, ?, ?, ?, ?, 0)",
                (participant_id, token_hash, name, ticket_hash, ticket_expires_at),
            )
            db.execute("COMMIT")
            return True
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def redeem_ticket(self, ticket_hash: str, now: float) -> SeatRecord | None:
        row = self._db.execute(
            "UPDATE seats SET connected = 1, ticket_hash = NULL"
            " WHERE ticket_hash = ? AND connected = 0 AND ticket_expires_at > ?"
            " RETURNING participant_id, token_hash, name",
            (ticket_hash, now),
        ).fetchone()
        return None if row is None else SeatRecord(row[0], row[1], row[2])

    async def release_seat(self, participant_id: str) -> None:
        self._db.execute("DELETE FROM seats WHERE participant_id = ?", (participant_id,))

    async def count_connected(self, token_hash: str) -> int:
        (n,) = self._db.execute(
            "SELECT COUNT(*) FROM seats WHERE token_hash = ? AND connected = 1", (token_hash,)
        ).fetchone()
        return int(n)

    async def clear_seats(self) -> None:
        self._db.execute("DELETE FROM seats")

    async def claim_call(self, token_hash: str, node: str, ttl: float) -> str:
        """One node hosts every call."""
        return node

    async def heartbeat(self, ttl: float) -> int:
        """One node, alive while it runs: nobody else's seats to reclaim."""
        return 0

    async def announce_revoked(self, token_hash: str) -> None:
        """One node: the revoking node ends its call itself; nobody else to tell."""

    async def revocations(self) -> AsyncIterator[str]:
        await asyncio.Event().wait()  # one node: nothing ever arrives from elsewhere
        yield ""  # pragma: no cover

    async def close(self) -> None:
        self._db.close()
