"""SQLite adapter (aiosqlite), the embedded default: one file under the data directory.

Several processes may share the file: WAL mode lets readers run beside one writer,
``BEGIN IMMEDIATE`` takes the write lock up front so a transaction never fails half way,
and a busy timeout makes the others wait instead of erroring.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from caseline.messages import Inbound, Reply
from caseline.store.base import (
    DELIVERY_ORDER,
    Conversation,
    ConversationStore,
    InboundRecord,
    OutboxDraft,
    OutboxItem,
    OutboxStatus,
    StoreUnavailable,
    TranscriptDraft,
    TranscriptEntry,
    TurnCommit,
    VersionConflict,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbound (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    platform_message_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    received_at TEXT NOT NULL,
    UNIQUE (channel, platform_message_id)
);
CREATE INDEX IF NOT EXISTS inbound_pending ON inbound (contact_id, status, seq);
CREATE INDEX IF NOT EXISTS inbound_received ON inbound (received_at);
CREATE TABLE IF NOT EXISTS conversations (
    contact_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    platform_user_id TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '{}',
    version INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until TEXT,
    updated_at TEXT
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    contact_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    platform_user_id TEXT NOT NULL,
    reply TEXT NOT NULL,
    inbound_seq INTEGER,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_owner TEXT,
    lease_until TEXT,
    error TEXT,
    platform_message_id TEXT,
    delivery TEXT
);
CREATE INDEX IF NOT EXISTS outbox_platform_id ON outbox (channel, platform_message_id);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_contact ON outbox (contact_id, status, id);
CREATE INDEX IF NOT EXISTS outbox_inbound ON outbox (inbound_seq);
CREATE TABLE IF NOT EXISTS transcript (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    at TEXT NOT NULL,
    inbound_seq INTEGER
);
CREATE INDEX IF NOT EXISTS transcript_contact ON transcript (contact_id, seq);
"""


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


class SqliteDb:
    """One aiosqlite connection per process, with a lock so transactions never interleave."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self._conn is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=30.0)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA busy_timeout=30000")
        await conn.execute("PRAGMA foreign_keys=ON")
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StoreUnavailable("SQLite store is not open")
        return self._conn

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction; rolled back whole on any error."""
        async with self._lock:
            conn = self.conn
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        async with self._lock:
            cur = await self.conn.execute(sql, params)
            rows = await cur.fetchall()
            await cur.close()
        return list(rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def executescript(self, script: str) -> None:
        async with self._lock:
            await self.conn.executescript(script)


def _outbox_item(row: sqlite3.Row) -> OutboxItem:
    return OutboxItem(
        id=row["id"],
        key=row["key"],
        contact_id=row["contact_id"],
        channel=row["channel"],
        platform_user_id=row["platform_user_id"],
        reply=Reply.from_json(json.loads(row["reply"])),
        inbound_seq=row["inbound_seq"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=_dt(row["next_attempt_at"]),
        error=row["error"],
        platform_message_id=row["platform_message_id"],
        delivery=row["delivery"],
    )


async def _insert_outbox(conn: aiosqlite.Connection, drafts: Sequence[OutboxDraft], now: datetime) -> None:
    await conn.executemany(
        "INSERT OR IGNORE INTO outbox (key, contact_id, channel, platform_user_id, reply,"
        " inbound_seq, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (d.key, d.contact_id, d.channel, d.platform_user_id, json.dumps(d.reply.to_json()),
             d.inbound_seq, _ts(now))
            for d in drafts
        ],
    )


async def _insert_transcript(conn: aiosqlite.Connection, entries: Sequence[TranscriptDraft]) -> None:
    await conn.executemany(
        "INSERT INTO transcript (contact_id, direction, author, text, at, inbound_seq)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(e.contact_id, e.direction, e.author, e.text, _ts(e.at), e.inbound_seq) for e in entries],
    )


class SqliteConversationStore(ConversationStore):
    def __init__(self, db: SqliteDb) -> None:
        self.db = db

    async def open(self) -> None:
        try:
            await self.db.open()
            await self.db.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"cannot open SQLite store at {self.db.path}: {exc}") from exc

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> bool:
        try:
            await self.db.fetchone("SELECT 1")
        except (sqlite3.Error, StoreUnavailable):
            return False
        return True

    async def ensure_conversation(self, contact_id: str, channel: str, platform_user_id: str) -> None:
        async with self.db.tx() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO conversations (contact_id, channel, platform_user_id)"
                " VALUES (?, ?, ?)",
                (contact_id, channel, platform_user_id),
            )

    async def accept_inbound(self, message: Inbound) -> int | None:
        async with self.db.tx() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO conversations (contact_id, channel, platform_user_id)"
                " VALUES (?, ?, ?)",
                (message.contact_id, message.channel, message.platform_user_id),
            )
            cur = await conn.execute(
                "INSERT OR IGNORE INTO inbound (channel, platform_message_id, contact_id, body,"
                " received_at) VALUES (?, ?, ?, ?, ?)",
                (message.channel, message.platform_message_id, message.contact_id,
                 json.dumps(message.to_json()), _ts(message.received_at)),
            )
            seq = cur.lastrowid if cur.rowcount == 1 else None
            await cur.close()
        return seq

    async def next_pending(self, contact_id: str) -> InboundRecord | None:
        row = await self.db.fetchone(
            "SELECT seq, body, status FROM inbound WHERE contact_id = ? AND status = 'pending'"
            " ORDER BY seq LIMIT 1",
            (contact_id,),
        )
        if row is None:
            return None
        return InboundRecord(row["seq"], Inbound.from_json(json.loads(row["body"])), row["status"])

    async def inbound_status(self, seq: int) -> str | None:
        row = await self.db.fetchone("SELECT status FROM inbound WHERE seq = ?", (seq,))
        return None if row is None else str(row["status"])

    async def pending_contacts(self, limit: int = 100) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT contact_id, MIN(seq) AS first FROM inbound WHERE status = 'pending'"
            " GROUP BY contact_id ORDER BY first LIMIT ?",
            (limit,),
        )
        return [r["contact_id"] for r in rows]

    async def acquire_lease(self, contact_id: str, owner: str, now: datetime, until: datetime) -> bool:
        async with self.db.tx() as conn:
            cur = await conn.execute(
                "UPDATE conversations SET lease_owner = ?, lease_until = ? WHERE contact_id = ?"
                " AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)",
                (owner, _ts(until), contact_id, owner, _ts(now)),
            )
            taken = cur.rowcount == 1
            await cur.close()
        return taken

    async def release_lease(self, contact_id: str, owner: str) -> None:
        async with self.db.tx() as conn:
            await conn.execute(
                "UPDATE conversations SET lease_owner = NULL, lease_until = NULL"
                " WHERE contact_id = ? AND lease_owner = ?",
                (contact_id, owner),
            )

    async def load_conversation(self, contact_id: str) -> Conversation | None:
        row = await self.db.fetchone(
            "SELECT contact_id, channel, platform_user_id, state, version, last_seq"
            " FROM conversations WHERE contact_id = ?",
            (contact_id,),
        )
        if row is None:
            return None
        return Conversation(
            row["contact_id"], row["channel"], row["platform_user_id"],
            json.loads(row["state"]), row["version"], row["last_seq"],
        )

    async def commit_turn(self, commit: TurnCommit) -> None:
        now = datetime.now(UTC)
        async with self.db.tx() as conn:
            cur = await conn.execute("SELECT status FROM inbound WHERE seq = ?", (commit.inbound_seq,))
            row = await cur.fetchone()
            await cur.close()
            if row is not None and row["status"] == "done":
                return
            cur = await conn.execute(
                "UPDATE conversations SET state = ?, version = version + 1, last_seq = ?,"
                " updated_at = ? WHERE contact_id = ? AND version = ?",
                (json.dumps(commit.state), commit.inbound_seq, _ts(now), commit.contact_id,
                 commit.expected_version),
            )
            updated = cur.rowcount
            await cur.close()
            if updated != 1:
                raise VersionConflict(commit.contact_id)
            await _insert_outbox(conn, commit.outbox, now)
            await _insert_transcript(conn, commit.transcript)
            await conn.execute("UPDATE inbound SET status = 'done' WHERE seq = ?", (commit.inbound_seq,))

    async def enqueue(self, drafts: Sequence[OutboxDraft], transcript: Sequence[TranscriptDraft]) -> None:
        async with self.db.tx() as conn:
            await _insert_outbox(conn, drafts, datetime.now(UTC))
            await _insert_transcript(conn, transcript)

    async def claim_outbox(
        self, owner: str, now: datetime, lease_until: datetime, limit: int = 50
    ) -> list[OutboxItem]:
        async with self.db.tx() as conn:
            cur = await conn.execute(
                "SELECT o.* FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= ?"
                " AND (o.lease_until IS NULL OR o.lease_until < ?)"
                " AND o.id = (SELECT MIN(p.id) FROM outbox p WHERE p.contact_id = o.contact_id"
                " AND p.status = 'pending') ORDER BY o.id LIMIT ?",
                (_ts(now), _ts(now), limit),
            )
            rows = list(await cur.fetchall())
            await cur.close()
            await conn.executemany(
                "UPDATE outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"
                " WHERE id = ?",
                [(owner, _ts(lease_until), r["id"]) for r in rows],
            )
        return [replace(_outbox_item(r), attempts=r["attempts"] + 1) for r in rows]

    async def complete_outbox(
        self, item_id: int, status: OutboxStatus, error: str | None = None,
        platform_message_id: str | None = None,
    ) -> None:
        async with self.db.tx() as conn:
            await conn.execute(
                "UPDATE outbox SET status = ?, error = ?, lease_owner = NULL, lease_until = NULL,"
                " platform_message_id = COALESCE(?, platform_message_id),"
                " delivery = CASE WHEN ? = 'sent' THEN COALESCE(delivery, 'sent') ELSE delivery END"
                " WHERE id = ?",
                (status, error, platform_message_id, status, item_id),
            )

    async def update_delivery(self, channel: str, platform_message_id: str, delivery: str) -> bool:
        rank = DELIVERY_ORDER.get(delivery)
        if rank is None:
            return False
        async with self.db.tx() as conn:
            cur = await conn.execute(
                "SELECT id, delivery FROM outbox WHERE channel = ? AND platform_message_id = ?",
                (channel, platform_message_id),
            )
            row = await cur.fetchone()
            await cur.close()
            if row is None:
                return False
            if rank > DELIVERY_ORDER.get(row["delivery"] or "", 0) or delivery == "failed":
                await conn.execute("UPDATE outbox SET delivery = ? WHERE id = ?", (delivery, row["id"]))
        return True

    async def retry_outbox(self, item_id: int, next_attempt_at: datetime, error: str) -> None:
        async with self.db.tx() as conn:
            await conn.execute(
                "UPDATE outbox SET next_attempt_at = ?, error = ?, lease_owner = NULL,"
                " lease_until = NULL WHERE id = ?",
                (_ts(next_attempt_at), error, item_id),
            )

    async def outbox_for_inbound(self, inbound_seq: int) -> list[OutboxItem]:
        rows = await self.db.fetchall(
            "SELECT * FROM outbox WHERE inbound_seq = ? ORDER BY id", (inbound_seq,)
        )
        return [_outbox_item(r) for r in rows]

    async def outbox_since(self, contact_id: str, after_id: int = 0, limit: int = 100) -> list[OutboxItem]:
        rows = await self.db.fetchall(
            "SELECT * FROM outbox WHERE contact_id = ? AND id > ? ORDER BY id LIMIT ?",
            (contact_id, after_id, limit),
        )
        return [_outbox_item(r) for r in rows]

    async def outbox_backlog(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) AS n FROM outbox WHERE status = 'pending'")
        return 0 if row is None else int(row["n"])

    async def transcript(self, contact_id: str, after_seq: int = 0, limit: int = 200) -> list[TranscriptEntry]:
        rows = await self.db.fetchall(
            "SELECT * FROM transcript WHERE contact_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (contact_id, after_seq, limit),
        )
        return [
            TranscriptEntry(r["seq"], r["contact_id"], r["direction"], r["author"], r["text"],
                            _dt(r["at"]), r["inbound_seq"])
            for r in rows
        ]

    async def update_state(self, contact_id: str, mutate: dict[str, Any]) -> None:
        async with self.db.tx() as conn:
            cur = await conn.execute("SELECT state FROM conversations WHERE contact_id = ?", (contact_id,))
            row = await cur.fetchone()
            await cur.close()
            if row is None:
                return
            state = json.loads(row["state"])
            state.update(mutate)
            await conn.execute(
                "UPDATE conversations SET state = ?, version = version + 1 WHERE contact_id = ?",
                (json.dumps(state), contact_id),
            )
