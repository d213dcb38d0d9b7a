"""SQLite adapter (aiosqlite), the embedded default: one file under the data directory.

Several processes may share the file: WAL mode lets readers run beside one writer,
``BEGIN IMMEDIATE`` takes the write lock up front so a transaction never fails half way,
and a busy timeout makes the others wait instead of erroring.

With a :class:`~caseline.crypto.FieldCipher`, sensitive fields are sealed under the
contact's data key. Data keys live in a separate file (``keys.sqlite3`` beside the data
file, ATTACHed as schema ``keys``) so that it can be backed up on its own, with a shorter
retention than the data: deleting a key then also shreds the contact in old data backups.
Key lookups and sealing run inside the same function as the statements (one
``SqliteDb.run`` call): encryption adds no round trip, only an indexed lookup and
microseconds of AES-GCM (unwrapped keys are cached per process).

A new data key is committed in its own small transaction before the data that uses it:
in WAL mode a transaction over two attached files is atomic per file only, and data must
never be committed without its key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from caseline.crypto import (
    CONV_STATE,
    CONV_USER,
    INBOUND_BODY,
    OUTBOX_REPLY,
    OUTBOX_USER,
    TRANSCRIPT_TEXT,
    UNREADABLE,
    DataKey,
    FieldCipher,
    WrappedKey,
)
from caseline.messages import Inbound, Reply
from caseline.store.base import (
    DELIVERY_ORDER,
    Conversation,
    ConversationStore,
    ErasureReport,
    InboundRecord,
    OutboxDraft,
    OutboxItem,
    OutboxStatus,
    StoreError,
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
    delivery TEXT,
    sent_at TEXT
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
CREATE INDEX IF NOT EXISTS conversations_activity ON conversations (updated_at);
"""

# Added after the first release: (table, column, type) created on open when missing.
MIGRATIONS = (("outbox", "sent_at", "TEXT"),)

KEYS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS keys.contact_keys (contact_id TEXT PRIMARY KEY, kid TEXT NOT NULL,"
    " wrapped TEXT NOT NULL, created_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS keys.contact_keys_kid ON contact_keys (kid)",
)

# What survives of a conversation's state when it is erased but a case still holds it.
CONTROL_STATE = ("case_id", "safety_mode", "opted_out", "erasure_requested")

Keys = Callable[[str], DataKey | None]


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


log = logging.getLogger("caseline.store")

BUSY_PATIENCE_S = 30.0
CHECKPOINT_EVERY_S = 0.5
GROUP_MAX = 64  # writes per group commit


def _settle(batch: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]],
            outcomes: list[tuple[Any, BaseException | None]]) -> None:
    for (_fn, future), (result, error) in zip(batch, outcomes, strict=True):
        if future.done():  # the caller was cancelled; the write itself stands
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def _attached_files(c: sqlite3.Connection) -> list[tuple[str, str]]:
    """Attached databases other than main (the key store), as (schema, file)."""
    return [(str(r[1]), str(r[2])) for r in c.execute("PRAGMA database_list") if r[1] not in ("main", "temp") and r[2]]


class _BusyRetry:
    """Waits out another connection's write lock with growing asyncio sleeps, never blocking
    the loop, up to :data:`BUSY_PATIENCE_S`; any other error, or running out, is an outage."""

    def __init__(self) -> None:
        self.delay = 0.001
        self.deadline = asyncio.get_running_loop().time() + BUSY_PATIENCE_S

    def check(self, exc: sqlite3.OperationalError) -> None:
        text = str(exc)  # SQLITE_BUSY / SQLITE_LOCKED
        if not ("locked" in text or "busy" in text) or asyncio.get_running_loop().time() > self.deadline:
            raise StoreUnavailable(f"SQLite: {exc}") from exc

    async def sleep(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, 0.05)


class SqliteDb:
    """One SQLite connection per process, opened through aiosqlite.

    :meth:`run` executes a whole store operation as one function. Store operations are
    small indexed reads and writes (tens of microseconds; WAL with synchronous=NORMAL
    does not fsync on commit), so by default they run on the event loop itself: a hop to
    aiosqlite's thread costs more than the work, and under load the GIL hand-offs
    dominated (about 1.5x the webhook throughput once removed). Operations that scan
    (retention, erasure, key rotation) pass ``offload=True`` and run in the thread.
    :meth:`tx` remains for code that needs awaits inside a transaction. A lock keeps
    them from interleaving on the shared connection.

    Other processes may hold the write lock (several workers on one file), so inline
    operations never block on it: SQLite is told not to wait (busy_timeout 0) and a
    busy database is retried here with asyncio sleeps, up to :data:`BUSY_PATIENCE_S`.

    Checkpoints (copying the WAL back into the database file, with an fsync) would
    otherwise run inside whichever inline COMMIT crosses the WAL threshold, stalling the
    loop; a second connection runs them in its own thread every :data:`CHECKPOINT_EVERY_S`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._checkpointer: asyncio.Task[None] | None = None
        self._ck: sqlite3.Connection | None = None
        self._ck_lock = threading.Lock()
        self._group: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Future[None] | None = None

    async def open(self) -> None:
        if self._conn is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pending = aiosqlite.connect(self.path, isolation_level=None, timeout=0.0, check_same_thread=False)
        # A connection someone forgot to close must not keep the process alive at exit;
        # SQLite's WAL keeps the file consistent if the thread stops mid-transaction.
        pending._thread.daemon = True
        conn = await pending
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA busy_timeout=0")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA wal_autocheckpoint=0")  # see the class notes
        self._conn = conn
        self._checkpointer = asyncio.create_task(self._checkpoint_forever())

    async def close(self) -> None:
        """Under the lock: an operation running inline on the loop must never meet a connection
        that aiosqlite's thread is closing (that is a use-after-free in SQLite, a segfault)."""
        task, self._checkpointer = self._checkpointer, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(self._close_checkpointer)
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await conn.close()  # the last close of a WAL database checkpoints it

    async def _checkpoint_forever(self) -> None:
        """PASSIVE checkpoints never wait for, or block, readers and writers (ours or others')."""
        try:
            while True:
                await asyncio.sleep(CHECKPOINT_EVERY_S)
                files = await self.run(_attached_files, write=False)
                await asyncio.to_thread(self._checkpoint, files)
        except StoreUnavailable:
            return  # closed

    def _checkpoint(self, files: list[tuple[str, str]]) -> None:
        """In a worker thread, on a connection of its own (opened on first use)."""
        with self._ck_lock:
            try:
                if self._ck is None:
                    self._ck = sqlite3.connect(self.path, isolation_level=None, timeout=1.0, check_same_thread=False)
                attached = {str(r[1]) for r in self._ck.execute("PRAGMA database_list")}
                for name, file in files:
                    if name not in attached:
                        self._ck.execute(f"ATTACH DATABASE ? AS {name}", (file,))
                self._ck.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # the next round tries again; the WAL only grows meanwhile
                log.warning("SQLite checkpoint failed: %s", exc)

    def _close_checkpointer(self) -> None:
        with self._ck_lock:
            ck, self._ck = self._ck, None
            if ck is not None:
                ck.close()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StoreUnavailable("SQLite store is not open")
        return self._conn

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True,
                  offload: bool = False) -> T:
        """Run ``fn`` on the raw connection, in a transaction if ``write``; see the class notes."""
        if write and not offload:
            return await self._in_group(fn)

        def call(raw: sqlite3.Connection) -> T:
            if not write:
                return fn(raw)
            return in_tx(raw, fn)

        busy = _BusyRetry()
        while True:
            async with self._lock:
                conn = self.conn
                raw: sqlite3.Connection = conn._conn  # the connection aiosqlite opened
                try:
                    if offload:
                        return await conn._execute(call, raw)  # type: ignore[no-any-return,no-untyped-call]
                    return call(raw)
                except sqlite3.OperationalError as exc:
                    busy.check(exc)
            await busy.sleep()  # outside the lock: another process is writing, let it finish

    async def _in_group(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Group commit: writes asked for in the same loop iteration share one transaction.

        Under load a commit's WAL frames cost far more than the statements in it (about
        108 us per one-write transaction against 44 us per write in groups of four, measured
        on this kind of machine), and webhooks arrive many per iteration. Each write runs in
        its own savepoint, so one that raises is rolled back alone; every caller resumes
        only after the shared COMMIT, so "accepted" still means durable.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._group.append((fn, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush_groups())
        return cast(T, await future)

    async def _flush_groups(self) -> None:
        while self._group:
            batch, self._group = self._group[:GROUP_MAX], self._group[GROUP_MAX:]
            try:  # run() without write: _commit_group opens the transaction, run() waits out SQLITE_BUSY
                outcomes = await self.run(partial(self._commit_group, batch), write=False)
            except StoreUnavailable as exc:
                outcomes = [(None, exc)] * len(batch)
            _settle(batch, outcomes)

    @staticmethod
    def _commit_group(batch: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]],
                      raw: sqlite3.Connection) -> list[tuple[Any, BaseException | None]]:
        raw.execute("BEGIN IMMEDIATE")  # SQLITE_BUSY here: nothing ran, the caller retries
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            for fn, _future in batch:
                raw.execute("SAVEPOINT op")
                try:
                    result = fn(raw)
                except Exception as exc:
                    raw.execute("ROLLBACK TO op")
                    raw.execute("RELEASE op")
                    error: BaseException = StoreUnavailable(f"SQLite: {exc}") if isinstance(
                        exc, sqlite3.OperationalError) else exc
                    outcomes.append((None, error))
                else:
                    raw.execute("RELEASE op")
                    outcomes.append((result, None))
            raw.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                raw.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreUnavailable(f"SQLite: {exc}") from exc
            raise
        return outcomes

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction; rolled back whole on any error."""
        busy = _BusyRetry()
        async with self._lock:
            conn = self.conn
            while True:
                try:
                    await conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    busy.check(exc)
                await busy.sleep()
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


def _outbox_item(row: sqlite3.Row, key: DataKey | None) -> OutboxItem:
    cid = row["contact_id"]
    reply = FieldCipher.open_json(key, cid, OUTBOX_REPLY, row["reply"])
    return OutboxItem(
        id=row["id"],
        key=row["key"],
        contact_id=cid,
        channel=row["channel"],
        platform_user_id=FieldCipher.open(key, cid, OUTBOX_USER, row["platform_user_id"]),
        reply=Reply(UNREADABLE) if reply is None else Reply.from_json(reply),
        inbound_seq=row["inbound_seq"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=_dt(row["next_attempt_at"]),
        error=row["error"],
        platform_message_id=row["platform_message_id"],
        delivery=row["delivery"],
    )


def _insert_outbox(conn: sqlite3.Connection, drafts: Sequence[OutboxDraft], now: datetime, keys: Keys) -> None:
    rows = []
    for d in drafts:
        key = keys(d.contact_id)
        rows.append((d.key, d.contact_id, d.channel, FieldCipher.seal(key, OUTBOX_USER, d.platform_user_id),
                     FieldCipher.seal_json(key, OUTBOX_REPLY, d.reply.to_json()), d.inbound_seq, _ts(now)))
    conn.executemany(
        "INSERT OR IGNORE INTO outbox (key, contact_id, channel, platform_user_id, reply,"
        " inbound_seq, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _insert_transcript(conn: sqlite3.Connection, entries: Sequence[TranscriptDraft], keys: Keys) -> None:
    conn.executemany(
        "INSERT INTO transcript (contact_id, direction, author, text, at, inbound_seq)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(e.contact_id, e.direction, e.author, FieldCipher.seal(keys(e.contact_id), TRANSCRIPT_TEXT, e.text),
          _ts(e.at), e.inbound_seq) for e in entries],
    )


def _transcript_entry(r: sqlite3.Row, key: DataKey | None) -> TranscriptEntry:
    cid = r["contact_id"]
    return TranscriptEntry(r["seq"], cid, r["direction"], r["author"],
                           FieldCipher.open(key, cid, TRANSCRIPT_TEXT, r["text"]), _dt(r["at"]), r["inbound_seq"])


def _conversation(row: sqlite3.Row, key: DataKey | None) -> Conversation:
    cid = row["contact_id"]
    state = FieldCipher.open_json(key, cid, CONV_STATE, row["state"])
    return Conversation(
        cid, row["channel"], FieldCipher.open(key, cid, CONV_USER, row["platform_user_id"]),
        {} if state is None else dict(state), row["version"], row["last_seq"],
    )


def _inbound(row: sqlite3.Row, key: DataKey | None) -> Inbound:
    body = FieldCipher.open_json(key, row["contact_id"], INBOUND_BODY, row["body"])
    if body is None:
        return Inbound(row["channel"], UNREADABLE, row["contact_id"], row["platform_message_id"],
                       _dt(row["received_at"]), text=UNREADABLE)
    return Inbound.from_json(body)


def _pending(conn: sqlite3.Connection, contact_id: str, keys: Keys) -> InboundRecord | None:
    row = conn.execute(
        "SELECT * FROM inbound WHERE contact_id = ? AND status = 'pending' ORDER BY seq LIMIT 1",
        (contact_id,),
    ).fetchone()
    if row is None:
        return None
    return InboundRecord(row["seq"], _inbound(row, keys(contact_id)), row["status"])


def _has_pending(conn: sqlite3.Connection, contact_id: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM inbound WHERE contact_id = ? AND status = 'pending' LIMIT 1", (contact_id,)
    ).fetchone()
    return row is not None


def default_keys_path(db: SqliteDb) -> Path:
    return db.path.parent / "keys.sqlite3"


def attach_keys(c: sqlite3.Connection, keys_path: Path) -> None:
    """Attach the key store as schema ``keys`` (once per connection) and create its table.

    Every store that seals contact fields calls this on open, because the stores share one
    connection and any of them may be the first (or the only one) a command opens.
    """
    if "keys" not in {r[1] for r in c.execute("PRAGMA database_list")}:
        keys_path.parent.mkdir(parents=True, exist_ok=True)
        c.execute("ATTACH DATABASE ? AS keys", (str(keys_path),))
        c.execute("PRAGMA keys.journal_mode=WAL")
        c.execute("PRAGMA keys.synchronous=NORMAL")
    for statement in KEYS_SCHEMA:
        c.execute(statement)
    if keys_path.exists():
        keys_path.chmod(0o600)


def wrapped_key(c: sqlite3.Connection, contact_id: str) -> WrappedKey | None:
    row = c.execute("SELECT kid, wrapped FROM keys.contact_keys WHERE contact_id = ?", (contact_id,)).fetchone()
    return None if row is None else WrappedKey(row[0], row[1])


def key_reader(cipher: FieldCipher | None, c: sqlite3.Connection) -> Keys:
    """Per-operation key lookup (memoised; the process-wide cache saves the unwrap)."""
    memo: dict[str, DataKey | None] = {}

    def get(contact_id: str) -> DataKey | None:
        if cipher is None:
            return None
        if contact_id not in memo:
            memo[contact_id] = cipher.key(contact_id, wrapped_key(c, contact_id))
        return memo[contact_id]

    return get


def key_writer(cipher: FieldCipher | None, c: sqlite3.Connection, contact_ids: Sequence[str]) -> Keys:
    """Keys for writing, creating missing ones in their own committed transaction first.

    Call it outside the data's transaction: a key must be committed before any data that
    uses it, because a transaction over the two attached files is atomic per file only.
    """
    if cipher is None:
        return lambda _cid: None
    keys: dict[str, DataKey] = {}
    for cid in dict.fromkeys(contact_ids):
        wrapped = wrapped_key(c, cid)
        key: DataKey | None
        if wrapped is None:
            wrapped, key = cipher.new_key(cid)
            inserted = in_tx(c, partial(_insert_key, cid=cid, wrapped=wrapped))
            if inserted != 1:  # another process created it first: use theirs
                key = cipher.key(cid, wrapped_key(c, cid))
        else:
            key = cipher.key(cid, wrapped)
        if key is None:
            raise StoreError(f"the data key of {cid} cannot be unwrapped; refusing to write")
        keys[cid] = key
    return keys.get


class _KeyMissing(Exception):
    """A write found a contact without a data key; the key is made in its own transaction."""


def _no_keys(_cid: str) -> DataKey | None:
    return None


def _existing_keys(cipher: FieldCipher, c: sqlite3.Connection, contact_ids: Sequence[str]) -> Keys:
    """Keys of contacts that have one, read in the caller's transaction; :class:`_KeyMissing` if not."""
    keys: dict[str, DataKey] = {}
    for cid in dict.fromkeys(contact_ids):
        wrapped = wrapped_key(c, cid)
        if wrapped is None:
            raise _KeyMissing(cid)
        key = cipher.key(cid, wrapped)
        if key is None:
            raise StoreError(f"the data key of {cid} cannot be unwrapped; refusing to write")
        keys[cid] = key
    return keys.get


def _insert_key(c: sqlite3.Connection, cid: str, wrapped: WrappedKey) -> int:
    return c.execute(
        "INSERT OR IGNORE INTO keys.contact_keys (contact_id, kid, wrapped, created_at) VALUES (?, ?, ?, ?)",
        (cid, wrapped.kid, wrapped.wrapped, _ts(datetime.now(UTC))),
    ).rowcount


def in_tx(c: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    c.execute("BEGIN IMMEDIATE")
    try:
        result = fn(c)
    except BaseException:
        c.execute("ROLLBACK")
        raise
    c.execute("COMMIT")
    return result


class SqliteConversationStore(ConversationStore):
    """``cipher`` turns encryption at rest on; ``keys_path`` defaults to ``keys.sqlite3`` beside the data."""

    def __init__(self, db: SqliteDb, cipher: FieldCipher | None = None, keys_path: Path | None = None) -> None:
        self.db = db
        self.cipher = cipher
        self.keys_path = keys_path or default_keys_path(db)

    async def open(self) -> None:
        try:
            await self.db.open()
            await self.db.executescript(SCHEMA)
            await self.db.run(self._prepare, write=False)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"cannot open SQLite store at {self.db.path}: {exc}") from exc

    def _prepare(self, c: sqlite3.Connection) -> None:
        for table, column, kind in MIGRATIONS:
            if column not in {r[1] for r in c.execute(f"PRAGMA table_info({table})")}:
                c.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        # Start the retention clock of rows written before activity was tracked.
        c.execute("UPDATE conversations SET updated_at = ? WHERE updated_at IS NULL", (_ts(datetime.now(UTC)),))
        attach_keys(c, self.keys_path)

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> bool:
        try:
            await self.db.fetchone("SELECT 1")
        except (sqlite3.Error, StoreUnavailable):
            return False
        return True

    # -- data keys, inside a store call ----------------------------------------------------
    def _reader(self, c: sqlite3.Connection) -> Keys:
        return key_reader(self.cipher, c)

    def _writer_keys(self, c: sqlite3.Connection, contact_ids: Sequence[str]) -> Keys:
        return key_writer(self.cipher, c, contact_ids)

    async def _write(self, contact_ids: Sequence[str], fn: Callable[[sqlite3.Connection, Keys], T]) -> T:
        """``fn`` in a grouped write transaction, under keys read inside that transaction.

        Why inside: a key read before the transaction could be erased before the write, which
        would then seal data under a key that no longer exists (unreadable for good); and
        one statement in an open transaction is cheaper than a read transaction of its own.
        A contact without a key yet gets one first, committed on its own (a transaction over
        the two attached files is atomic per file only), and the write runs again.
        """
        if self.cipher is None:
            return await self.db.run(lambda c: fn(c, _no_keys))
        cipher = self.cipher
        for _ in range(3):
            try:
                return await self.db.run(lambda c: fn(c, _existing_keys(cipher, c, contact_ids)))
            except _KeyMissing:
                await self.db.run(lambda c: self._writer_keys(c, contact_ids), write=False)
        raise StoreError(f"the data keys of {list(contact_ids)} vanish as they are made (erased meanwhile?)")

    async def _read(self, fn: Callable[[sqlite3.Connection, Keys], T]) -> T:
        return await self.db.run(lambda c: fn(c, self._reader(c)), write=False)

    # -- the message path ----------------------------------------------------------------
    async def ensure_conversation(self, contact_id: str, channel: str, platform_user_id: str) -> None:
        def op(c: sqlite3.Connection, keys: Keys) -> None:
            if not c.execute("SELECT 1 FROM conversations WHERE contact_id = ?", (contact_id,)).fetchone():
                _insert_conversation(c, contact_id, channel, platform_user_id, keys(contact_id), datetime.now(UTC))

        await self._write([contact_id], op)

    async def accept_inbound(self, message: Inbound) -> int | None:
        cid = message.contact_id

        def op(c: sqlite3.Connection, keys: Keys) -> int | None:
            key = keys(cid)
            if not c.execute("SELECT 1 FROM conversations WHERE contact_id = ?", (cid,)).fetchone():
                _insert_conversation(c, cid, message.channel, message.platform_user_id, key, datetime.now(UTC))
            return _insert_inbound(c, message, key)

        return await self._write([cid], op)

    async def accept_and_lease(
        self, message: Inbound, owner: str, now: datetime, until: datetime
    ) -> tuple[int | None, tuple[InboundRecord, Conversation] | None]:
        """One transaction: the usual message is its contact's only pending one, so the turn
        is the message itself (no read back, no decryption) under a lease taken here.

        The lease is taken only when free or lapsed, never renewed: a lease this process
        holds means a turn of the contact is running here, and that run picks the message
        up before it lets the lease go (:meth:`commit_and_release` checks in the same
        transaction), so the caller processes nothing itself.
        """
        cid = message.contact_id

        def op(c: sqlite3.Connection, keys: Keys) -> tuple[int | None, tuple[InboundRecord, Conversation] | None]:
            key = keys(cid)
            row = c.execute("SELECT * FROM conversations WHERE contact_id = ?", (cid,)).fetchone()
            if row is None:
                _insert_conversation(c, cid, message.channel, message.platform_user_id, key, now, (owner, until))
            seq = _insert_inbound(c, message, key)
            if seq is None:
                if row is None:  # cannot happen (a duplicate has a conversation); keep the store tidy
                    raise StoreError(f"duplicate message for a contact without a conversation: {cid}")
                return None, None
            record = InboundRecord(seq, message, "pending")
            if row is None:
                return seq, (record, Conversation(cid, message.channel, message.platform_user_id, {}, 0, 0))
            older = c.execute("SELECT 1 FROM inbound WHERE contact_id = ? AND status = 'pending' AND seq < ?"
                              " LIMIT 1", (cid, seq)).fetchone()
            if older is not None or not c.execute(
                "UPDATE conversations SET lease_owner = ?, lease_until = ? WHERE contact_id = ?"
                " AND (lease_owner IS NULL OR lease_until < ?)", (owner, _ts(until), cid, _ts(now)),
            ).rowcount:
                return seq, None
            return seq, (record, _conversation(row, key))

        return await self._write([cid], op)

    async def next_pending(self, contact_id: str) -> InboundRecord | None:
        return await self._read(lambda c, keys: _pending(c, contact_id, keys))

    async def load_turn(self, contact_id: str) -> tuple[InboundRecord, Conversation] | None:
        def op(c: sqlite3.Connection, keys: Keys) -> tuple[InboundRecord, Conversation] | None:
            record = _pending(c, contact_id, keys)
            if record is None:
                return None
            row = c.execute("SELECT * FROM conversations WHERE contact_id = ?", (contact_id,)).fetchone()
            return None if row is None else (record, _conversation(row, keys(contact_id)))

        return await self._read(op)

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
        return await self.db.run(lambda c: _take_lease(c, contact_id, owner, now, until))

    async def release_lease(self, contact_id: str, owner: str) -> None:
        await self.db.run(lambda c: _release(c, contact_id, owner))

    async def release_if_idle(self, contact_id: str, owner: str) -> bool:
        def op(c: sqlite3.Connection) -> bool:
            if _has_pending(c, contact_id):
                return False
            _release(c, contact_id, owner)
            return True

        return await self.db.run(op)

    async def load_conversation(self, contact_id: str) -> Conversation | None:
        def op(c: sqlite3.Connection, keys: Keys) -> Conversation | None:
            row = c.execute("SELECT * FROM conversations WHERE contact_id = ?", (contact_id,)).fetchone()
            return None if row is None else _conversation(row, keys(contact_id))

        return await self._read(op)

    async def lease_turn(
        self, contact_id: str, owner: str, now: datetime, until: datetime
    ) -> tuple[InboundRecord, Conversation] | None:
        def op(c: sqlite3.Connection, keys: Keys) -> tuple[InboundRecord, Conversation] | None:
            if not _has_pending(c, contact_id) or not _take_lease(c, contact_id, owner, now, until):
                return None  # nothing to do, or another owner is at it: no lease taken
            record = _pending(c, contact_id, keys)
            row = c.execute("SELECT * FROM conversations WHERE contact_id = ?", (contact_id,)).fetchone()
            return None if record is None else (record, _conversation(row, keys(contact_id)))

        return await self.db.run(lambda c: op(c, self._reader(c)))

    async def commit_and_release(self, commit: TurnCommit, owner: str) -> bool:
        released, _ = await self._commit_releasing(commit, owner, None)
        return released

    async def commit_and_claim(
        self, commit: TurnCommit, owner: str, claim_until: datetime
    ) -> tuple[bool, list[OutboxItem]]:
        return await self._commit_releasing(commit, owner, claim_until)

    async def _commit_releasing(
        self, commit: TurnCommit, owner: str, claim_until: datetime | None
    ) -> tuple[bool, list[OutboxItem]]:
        claimed: list[OutboxItem] = []

        def then(c: sqlite3.Connection, now: datetime, fresh: bool) -> bool:
            claimed.clear()  # the function runs again when its group is retried
            if claim_until is not None and fresh and commit.outbox:
                claimed.extend(_claim_first(c, commit.outbox[0], owner, now, claim_until))
            if _has_pending(c, commit.contact_id):
                return False
            _release(c, commit.contact_id, owner)
            return True

        released = await self._commit(commit, then)
        return released, claimed

    async def commit_turn(self, commit: TurnCommit) -> None:
        await self._commit(commit, None)

    async def _commit(self, commit: TurnCommit,
                      then: Callable[[sqlite3.Connection, datetime, bool], bool] | None) -> bool:
        """``then`` runs in the same transaction, told whether this call wrote the turn (false
        when it was already committed: a retry after a lost answer)."""
        now = datetime.now(UTC)
        contacts = [commit.contact_id, *(d.contact_id for d in commit.outbox),
                    *(t.contact_id for t in commit.transcript)]

        def op(c: sqlite3.Connection, keys: Keys) -> bool:
            row = c.execute("SELECT status FROM inbound WHERE seq = ?", (commit.inbound_seq,)).fetchone()
            if row is not None and row["status"] == "done":
                return then(c, now, False) if then is not None else False
            cur = c.execute(
                "UPDATE conversations SET state = ?, version = version + 1, last_seq = ?,"
                " updated_at = ? WHERE contact_id = ? AND version = ?",
                (FieldCipher.seal_json(keys(commit.contact_id), CONV_STATE, commit.state), commit.inbound_seq,
                 _ts(now), commit.contact_id, commit.expected_version),
            )
            if cur.rowcount != 1:
                raise VersionConflict(commit.contact_id)
            _insert_outbox(c, commit.outbox, now, keys)
            _insert_transcript(c, commit.transcript, keys)
            c.execute("UPDATE inbound SET status = 'done' WHERE seq = ?", (commit.inbound_seq,))
            return then(c, now, True) if then is not None else False

        return await self._write(contacts, op)

    async def enqueue(self, drafts: Sequence[OutboxDraft], transcript: Sequence[TranscriptDraft]) -> None:
        contacts = [*(d.contact_id for d in drafts), *(t.contact_id for t in transcript)]

        def op(c: sqlite3.Connection, keys: Keys) -> None:
            now = datetime.now(UTC)
            _insert_outbox(c, drafts, now, keys)
            _insert_transcript(c, transcript, keys)
            c.executemany("UPDATE conversations SET updated_at = ? WHERE contact_id = ?",
                          [(_ts(now), cid) for cid in dict.fromkeys(contacts)])

        await self._write(contacts, op)

    async def claim_outbox(
        self, owner: str, now: datetime, lease_until: datetime, limit: int = 50
    ) -> list[OutboxItem]:
        def op(c: sqlite3.Connection) -> list[OutboxItem]:
            # Due order, not id order: (next_attempt_at, id) is the outbox_due index's own order,
            # so LIMIT stops after the first due heads. Sorting every pending row by id first
            # cost 16 ms a claim with 5,000 replies queued (0.2 ms now), and under a backlog
            # the worker claims continuously. Per contact, only the head is ever claimed.
            rows = c.execute(
                "SELECT o.* FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= ?"
                " AND (o.lease_until IS NULL OR o.lease_until < ?)"
                " AND o.id = (SELECT MIN(p.id) FROM outbox p WHERE p.contact_id = o.contact_id"
                " AND p.status = 'pending') ORDER BY o.next_attempt_at, o.id LIMIT ?",
                (_ts(now), _ts(now), limit),
            ).fetchall()
            _lease_outbox(c, [r["id"] for r in rows], owner, lease_until)
            keys = self._reader(c)
            return [replace(_outbox_item(r, keys(r["contact_id"])), attempts=r["attempts"] + 1) for r in rows]

        return await self.db.run(op)

    async def complete_outbox(
        self, item_id: int, status: OutboxStatus, error: str | None = None,
        platform_message_id: str | None = None,
    ) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE outbox SET status = ?, error = ?, lease_owner = NULL, lease_until = NULL,"
                " platform_message_id = COALESCE(?, platform_message_id),"
                " delivery = CASE WHEN ? = 'sent' THEN COALESCE(delivery, 'sent') ELSE delivery END,"
                " sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END"
                " WHERE id = ?",
                (status, error, platform_message_id, status, status, _ts(datetime.now(UTC)), item_id),
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

    async def _outbox_query(self, sql: str, params: Sequence[Any]) -> list[OutboxItem]:
        def op(c: sqlite3.Connection, keys: Keys) -> list[OutboxItem]:
            return [_outbox_item(r, keys(r["contact_id"])) for r in c.execute(sql, params).fetchall()]

        return await self._read(op)

    async def outbox_for_inbound(self, inbound_seq: int) -> list[OutboxItem]:
        return await self._outbox_query("SELECT * FROM outbox WHERE inbound_seq = ? ORDER BY id", (inbound_seq,))

    async def outbox_since(self, contact_id: str, after_id: int = 0, limit: int = 100) -> list[OutboxItem]:
        return await self._outbox_query(
            "SELECT * FROM outbox WHERE contact_id = ? AND id > ? ORDER BY id LIMIT ?", (contact_id, after_id, limit),
        )

    async def outbox_backlog(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) AS n FROM outbox WHERE status = 'pending'")
        return 0 if row is None else int(row["n"])

    async def transcript(self, contact_id: str, after_seq: int = 0, limit: int = 200) -> list[TranscriptEntry]:
        def op(c: sqlite3.Connection, keys: Keys) -> list[TranscriptEntry]:
            rows = c.execute(
                "SELECT * FROM transcript WHERE contact_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (contact_id, after_seq, limit),
            ).fetchall()
            return [_transcript_entry(r, keys(contact_id)) for r in rows]

        return await self._read(op)

    async def update_state(self, contact_id: str, mutate: dict[str, Any]) -> None:
        def op(c: sqlite3.Connection, keys: Keys) -> None:
            row = c.execute("SELECT * FROM conversations WHERE contact_id = ?", (contact_id,)).fetchone()
            if row is None:
                return
            state = _conversation(row, keys(contact_id)).state
            if all(k in state and state[k] == v for k, v in mutate.items()):
                return  # unchanged: a version bump would only make a turn in flight start over
            state.update(mutate)
            c.execute(
                "UPDATE conversations SET state = ?, version = version + 1 WHERE contact_id = ?",
                (FieldCipher.seal_json(keys(contact_id), CONV_STATE, state), contact_id),
            )

        await self._write([contact_id], op)

    # -- privacy -------------------------------------------------------------------------
    async def erase_contact(
        self, contact_id: str, keep_case_part: bool = False, *, dry_run: bool = False
    ) -> ErasureReport:
        cid = (contact_id,)

        def count(c: sqlite3.Connection, table: str) -> int:
            return int(c.execute(f"SELECT COUNT(*) FROM {table} WHERE contact_id = ?", cid).fetchone()[0])

        def op(c: sqlite3.Connection) -> ErasureReport:
            n = {t: count(c, t) for t in ("inbound", "outbox", "transcript", "conversations", "keys.contact_keys")}
            report = ErasureReport(
                contact_id, n["inbound"], n["outbox"], 0 if keep_case_part else n["transcript"],
                0 if keep_case_part else n["conversations"], 0 if keep_case_part else n["keys.contact_keys"],
                n["transcript"] if keep_case_part else 0, keep_case_part and n["keys.contact_keys"] > 0, dry_run,
            )
            if dry_run:
                return report
            if not keep_case_part:
                # The key first: from this commit on, every copy of the data is unreadable.
                in_tx(c, lambda conn: conn.execute("DELETE FROM keys.contact_keys WHERE contact_id = ?", cid))
                if self.cipher is not None:
                    self.cipher.forget(contact_id)
            key = self._reader(c)(contact_id) if keep_case_part else None

            def delete(conn: sqlite3.Connection) -> None:
                conn.execute("DELETE FROM inbound WHERE contact_id = ?", cid)
                conn.execute("DELETE FROM outbox WHERE contact_id = ?", cid)
                if not keep_case_part:
                    conn.execute("DELETE FROM transcript WHERE contact_id = ?", cid)
                    conn.execute("DELETE FROM conversations WHERE contact_id = ?", cid)
                    return
                row = conn.execute("SELECT * FROM conversations WHERE contact_id = ?", cid).fetchone()
                if row is not None:
                    old = _conversation(row, key).state
                    state = {k: old[k] for k in CONTROL_STATE if k in old} | {"erased": True}
                    conn.execute("UPDATE conversations SET state = ?, version = version + 1 WHERE contact_id = ?",
                                 (FieldCipher.seal_json(key, CONV_STATE, state), contact_id))

            in_tx(c, delete)
            return report

        return await self.db.run(op, write=False, offload=True)

    async def idle_contacts(self, before: datetime, after: str = "", limit: int = 500) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT contact_id FROM conversations c WHERE updated_at < ? AND contact_id > ?"
            " AND NOT EXISTS (SELECT 1 FROM inbound i WHERE i.contact_id = c.contact_id AND i.status = 'pending')"
            " ORDER BY contact_id LIMIT ?",
            (_ts(before), after, limit),
        )
        return [str(r["contact_id"]) for r in rows]

    async def _purge(self, where: str, params: Sequence[Any], table: str, dry_run: bool) -> int:
        def op(c: sqlite3.Connection) -> int:
            if dry_run:
                return int(c.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params).fetchone()[0])
            return int(c.execute(f"DELETE FROM {table} WHERE {where}", params).rowcount)

        return await self.db.run(op, write=not dry_run, offload=True)

    async def purge_inbound(self, before: datetime, *, dry_run: bool = False) -> int:
        return await self._purge("status = 'done' AND received_at < ?", (_ts(before),), "inbound", dry_run)

    async def purge_sent_outbox(self, before: datetime, *, dry_run: bool = False) -> int:
        return await self._purge(
            "status = 'sent' AND COALESCE(sent_at, next_attempt_at) < ?", (_ts(before),), "outbox", dry_run
        )

    async def key_counts(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT kid, COUNT(*) AS n FROM keys.contact_keys GROUP BY kid ORDER BY kid")
        return {str(r["kid"]): int(r["n"]) for r in rows}

    async def rewrap_keys(self, limit: int = 500) -> int:
        cipher = self.cipher
        if cipher is None:
            raise StoreError("no keyring: encryption at rest is off")
        active = cipher.keyring.active

        def op(c: sqlite3.Connection) -> int:
            rows = c.execute(
                "SELECT contact_id, kid, wrapped FROM keys.contact_keys WHERE kid != ? LIMIT ?", (active, limit)
            ).fetchall()
            updates = []
            for r in rows:
                new = cipher.rewrap(r["contact_id"], WrappedKey(r["kid"], r["wrapped"]))
                updates.append((new.kid, new.wrapped, r["contact_id"], r["wrapped"]))
            c.executemany("UPDATE keys.contact_keys SET kid = ?, wrapped = ? WHERE contact_id = ? AND wrapped = ?",
                          updates)
            return len(updates)

        return await self.db.run(op, offload=True)


def _insert_conversation(c: sqlite3.Connection, contact_id: str, channel: str, platform_user_id: str,
                         key: DataKey | None, now: datetime, lease: tuple[str, datetime] | None = None) -> None:
    owner, until = lease if lease is not None else (None, None)
    c.execute(
        "INSERT INTO conversations (contact_id, channel, platform_user_id, state, updated_at, lease_owner,"
        " lease_until) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (contact_id, channel, FieldCipher.seal(key, CONV_USER, platform_user_id),
         FieldCipher.seal_json(key, CONV_STATE, {}), _ts(now), owner, None if until is None else _ts(until)),
    )


def _insert_inbound(c: sqlite3.Connection, message: Inbound, key: DataKey | None) -> int | None:
    """The new message's sequence number; None if its platform id was seen before."""
    cur = c.execute(
        "INSERT OR IGNORE INTO inbound (channel, platform_message_id, contact_id, body, received_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (message.channel, message.platform_message_id, message.contact_id,
         FieldCipher.seal_json(key, INBOUND_BODY, message.to_json()), _ts(message.received_at)),
    )
    return cur.lastrowid if cur.rowcount == 1 else None


def _lease_outbox(c: sqlite3.Connection, ids: Sequence[int], owner: str, until: datetime) -> None:
    c.executemany("UPDATE outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1 WHERE id = ?",
                  [(owner, _ts(until), i) for i in ids])


def _claim_first(c: sqlite3.Connection, draft: OutboxDraft, owner: str, now: datetime,
                 until: datetime) -> list[OutboxItem]:
    """Lease a reply just inserted if it heads its contact's queue (as ``claim_outbox`` would)."""
    head = c.execute("SELECT id, key FROM outbox WHERE contact_id = ? AND status = 'pending' ORDER BY id LIMIT 1",
                     (draft.contact_id,)).fetchone()
    if head is None or head["key"] != draft.key:
        return []
    _lease_outbox(c, [head["id"]], owner, until)
    return [OutboxItem(head["id"], draft.key, draft.contact_id, draft.channel, draft.platform_user_id, draft.reply,
                       draft.inbound_seq, "pending", 1, now)]


def _take_lease(c: sqlite3.Connection, contact_id: str, owner: str, now: datetime, until: datetime) -> bool:
    """Take or renew the lease unless another owner holds an unexpired one."""
    cur = c.execute(
        "UPDATE conversations SET lease_owner = ?, lease_until = ? WHERE contact_id = ?"
        " AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)",
        (owner, _ts(until), contact_id, owner, _ts(now)),
    )
    return cur.rowcount == 1


def _release(c: sqlite3.Connection, contact_id: str, owner: str) -> None:
    c.execute(
        "UPDATE conversations SET lease_owner = NULL, lease_until = NULL WHERE contact_id = ? AND lease_owner = ?",
        (contact_id, owner),
    )
