"""SQLite adapter (aiosqlite), the embedded default: one file under the data directory.

Several processes may share the file: WAL mode lets readers run beside one writer,
``BEGIN IMMEDIATE`` takes the write lock up front so a transaction never fails half way,
and a busy timeout makes the others wait instead of erroring.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

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

T = TypeVar("T")

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
    """One aiosqlite connection per process.

    :meth:`run` executes a whole store operation as one function in aiosqlite's
    connection thread, so an operation costs one thread hop instead of one per
    statement; :meth:`tx` remains for code that needs awaits inside a transaction.
    A lock keeps the two from interleaving on the shared connection.
    """

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

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """Run ``fn`` on the raw connection in aiosqlite's thread; in a transaction if ``write``."""
        async with self._lock:
            conn = self.conn

            def call() -> T:
                raw: sqlite3.Connection = conn._conn  # aiosqlite's own connection, in its own thread
                if not write:
                    return fn(raw)
                raw.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(raw)
                except BaseException:
                    raw.execute("ROLLBACK")
                    raise
                raw.execute("COMMIT")
                return result

            try:
                result: T = await conn._execute(call)  # type: ignore[no-untyped-call]
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"SQLite: {exc}") from exc
            return result

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
        return await self.run(lambda c: list(c.execute(sql, params).fetchall()), write=False)

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


def _insert_outbox(conn: sqlite3.Connection, drafts: Sequence[OutboxDraft], now: datetime) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO outbox (key, contact_id, channel, platform_user_id, reply,"
        " inbound_seq, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (d.key, d.contact_id, d.channel, d.platform_user_id, json.dumps(d.reply.to_json()),
             d.inbound_seq, _ts(now))
            for d in drafts
        ],
    )


def _insert_transcript(conn: sqlite3.Connection, entries: Sequence[TranscriptDraft]) -> None:
    conn.executemany(
        "INSERT INTO transcript (contact_id, direction, author, text, at, inbound_seq)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(e.contact_id, e.direction, e.author, e.text, _ts(e.at), e.inbound_seq) for e in entries],
    )


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(
        row["contact_id"], row["channel"], row["platform_user_id"],
        json.loads(row["state"]), row["version"], row["last_seq"],
    )


def _pending(conn: sqlite3.Connection, contact_id: str) -> InboundRecord | None:
    row = conn.execute(
        "SELECT seq, body, status FROM inbound WHERE contact_id = ? AND status = 'pending'"
        " ORDER BY seq LIMIT 1",
        (contact_id,),
    ).fetchone()
    if row is None:
        return None
    return InboundRecord(row["seq"], Inbound.from_json(json.loads(row["body"])), row["status"])


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
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT OR IGNORE INTO conversations (contact_id, channel, platform_user_id) VALUES (?, ?, ?)",
                (contact_id, channel, platform_user_id),
            )

        await self.db.run(op)

    async def accept_inbound(self, message: Inbound) -> int | None:
        def op(c: sqlite3.Connection) -> int | None:
            c.execute(
                "INSERT OR IGNORE INTO conversations (contact_id, channel, platform_user_id) VALUES (?, ?, ?)",
                (message.contact_id, message.channel, message.platform_user_id),
            )
            cur = c.execute(
                "INSERT OR IGNORE INTO inbound (channel, platform_message_id, contact_id, body,"
                " received_at) VALUES (?, ?, ?, ?, ?)",
                (message.channel, message.platform_message_id, message.contact_id,
                 json.dumps(message.to_json()), _ts(message.received_at)),
            )
            return cur.lastrowid if cur.rowcount == 1 else None

        return await self.db.run(op)

    async def next_pending(self, contact_id: str) -> InboundRecord | None:
        return await self.db.run(lambda c: _pending(c, contact_id), write=False)

    async def load_turn(self, contact_id: str) -> tuple[InboundRecord, Conversation] | None:
        def op(c: sqlite3.Connection) -> tuple[InboundRecord, Conversation] | None:
            record = _pending(c, contact_id)
            row = c.execute("SELECT * FROM conversations WHERE contact_id = ?", (contact_id,)).fetchone()
            return None if record is None or row is None else (record, _conversation(row))

        return await self.db.run(op, write=False)

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
        def op(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "UPDATE conversations SET lease_owner = ?, lease_until = ? WHERE contact_id = ?"
                " AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)",
                (owner, _ts(until), contact_id, owner, _ts(now)),
            )
            return cur.rowcount == 1

        return await self.db.run(op)

    async def release_lease(self, contact_id: str, owner: str) -> None:
        await self.db.run(lambda c: _release(c, contact_id, owner))

    async def release_if_idle(self, contact_id: str, owner: str) -> bool:
        def op(c: sqlite3.Connection) -> bool:
            if _pending(c, contact_id) is not None:
                return False
            _release(c, contact_id, owner)
            return True

        return await self.db.run(op)

    async def load_conversation(self, contact_id: str) -> Conversation | None:
        row = await self.db.fetchone("SELECT * FROM conversations WHERE contact_id = ?", (contact_id,))
        return None if row is None else _conversation(row)

    async def commit_turn(self, commit: TurnCommit) -> None:
        now = datetime.now(UTC)

        def op(c: sqlite3.Connection) -> None:
            row = c.execute("SELECT status FROM inbound WHERE seq = ?", (commit.inbound_seq,)).fetchone()
            if row is not None and row["status"] == "done":
                return
            cur = c.execute(
                "UPDATE conversations SET state = ?, version = version + 1, last_seq = ?,"
                " updated_at = ? WHERE contact_id = ? AND version = ?",
                (json.dumps(commit.state), commit.inbound_seq, _ts(now), commit.contact_id,
                 commit.expected_version),
            )
            if cur.rowcount != 1:
                raise VersionConflict(commit.contact_id)
            _insert_outbox(c, commit.outbox, now)
            _insert_transcript(c, commit.transcript)
            c.execute("UPDATE inbound SET status = 'done' WHERE seq = ?", (commit.inbound_seq,))

        await self.db.run(op)

    async def enqueue(self, drafts: Sequence[OutboxDraft], transcript: Sequence[TranscriptDraft]) -> None:
        def op(c: sqlite3.Connection) -> None:
            _insert_outbox(c, drafts, datetime.now(UTC))
            _insert_transcript(c, transcript)

        await self.db.run(op)

    async def claim_outbox(
        self, owner: str, now: datetime, lease_until: datetime, limit: int = 50
    ) -> list[OutboxItem]:
        def op(c: sqlite3.Connection) -> list[OutboxItem]:
            rows = c.execute(
                "SELECT o.* FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= ?"
                " AND (o.lease_until IS NULL OR o.lease_until < ?)"
                " AND o.id = (SELECT MIN(p.id) FROM outbox p WHERE p.contact_id = o.contact_id"
                " AND p.status = 'pending') ORDER BY o.id LIMIT ?",
                (_ts(now), _ts(now), limit),
            ).fetchall()
            c.executemany(
                "UPDATE outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1 WHERE id = ?",
                [(owner, _ts(lease_until), r["id"]) for r in rows],
            )
            return [replace(_outbox_item(r), attempts=r["attempts"] + 1) for r in rows]

        return await self.db.run(op)

    async def complete_outbox(
        self, item_id: int, status: OutboxStatus, error: str | None = None,
        platform_message_id: str | None = None,
    ) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE outbox SET status = ?, error = ?, lease_owner = NULL, lease_until = NULL,"
                " platform_message_id = COALESCE(?, platform_message_id),"
                " delivery = CASE WHEN ? = 'sent' THEN COALESCE(delivery, 'sent') ELSE delivery END"
                " WHERE id = ?",
                (status, error, platform_message_id, status, item_id),
            )

        await self.db.run(op)

    async def update_delivery(self, channel: str, platform_message_id: str, delivery: str) -> bool:
        rank = DELIVERY_ORDER.get(delivery)
        if rank is None:
            return False

        def op(c: sqlite3.Connection) -> bool:
            row = c.execute(
                "SELECT id, delivery FROM outbox WHERE channel = ? AND platform_message_id = ?",
                (channel, platform_message_id),
            ).fetchone()
            if row is None:
                return False
            if rank > DELIVERY_ORDER.get(row["delivery"] or "", 0) or delivery == "failed":
                c.execute("UPDATE outbox SET delivery = ? WHERE id = ?", (delivery, row["id"]))
            return True

        return await self.db.run(op)

    async def retry_outbox(self, item_id: int, next_attempt_at: datetime, error: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE outbox SET next_attempt_at = ?, error = ?, lease_owner = NULL, lease_until = NULL"
                " WHERE id = ?",
                (_ts(next_attempt_at), error, item_id),
            )

        await self.db.run(op)

    async def outbox_for_inbound(self, inbound_seq: int) -> list[OutboxItem]:
        rows = await self.db.fetchall("SELECT * FROM outbox WHERE inbound_seq = ? ORDER BY id", (inbound_seq,))
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
        def op(c: sqlite3.Connection) -> None:
            row = c.execute("SELECT state FROM conversations WHERE contact_id = ?", (contact_id,)).fetchone()
            if row is None:
                return
            state = json.loads(row["state"])
            state.update(mutate)
            c.execute(
                "UPDATE conversations SET state = ?, version = version + 1 WHERE contact_id = ?",
                (json.dumps(state), contact_id),
            )

        await self.db.run(op)


def _release(c: sqlite3.Connection, contact_id: str, owner: str) -> None:
    c.execute(
        "UPDATE conversations SET lease_owner = NULL, lease_until = NULL WHERE contact_id = ? AND lease_owner = ?",
        (contact_id, owner),
    )
