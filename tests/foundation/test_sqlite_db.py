"""SqliteDb runs small operations inline on the event loop; closing must not race them.

CI once died of a segfault: the probation scheduler's inline claim ran on the connection
while aiosqlite's thread was closing it at shutdown.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import caseline.store.sqlite as sqlite_module
from caseline.crypto import FieldCipher
from caseline.keyring import Keyring
from caseline.messages import Inbound, Reply
from caseline.store.base import OutboxDraft, StoreError, StoreUnavailable, TurnCommit
from caseline.store.sqlite import SqliteConversationStore, SqliteDb


async def test_operations_racing_a_close_end_cleanly_as_unavailable(tmp_path: Path) -> None:
    db = SqliteDb(tmp_path / "race.sqlite3")
    await db.open()
    await db.executescript("CREATE TABLE t (x INTEGER)")
    outcomes: list[str] = []

    async def hammer() -> None:
        try:
            while True:
                await db.run(lambda c: c.execute("INSERT INTO t VALUES (1)"))
                await db.run(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone(), write=False)
                await asyncio.sleep(0)
        except StoreUnavailable:
            outcomes.append("unavailable")

    tasks = [asyncio.create_task(hammer()) for _ in range(8)]
    await asyncio.sleep(0.05)
    await db.close()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    assert outcomes == ["unavailable"] * 8
    rows = sqlite3.connect(tmp_path / "race.sqlite3").execute("SELECT COUNT(*) FROM t").fetchone()[0]
    assert rows > 0


async def test_another_connection_holding_the_write_lock_is_waited_out(tmp_path: Path) -> None:
    path = tmp_path / "busy.sqlite3"
    db = SqliteDb(path)
    await db.open()
    await db.executescript("CREATE TABLE t (x INTEGER)")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    asyncio.get_running_loop().call_later(0.2, other.execute, "COMMIT")
    await db.run(lambda c: c.execute("INSERT INTO t VALUES (1)"))  # retried, not failed
    assert (await db.fetchone("SELECT COUNT(*) AS n FROM t"))["n"] == 1  # type: ignore[index]
    other.close()
    await db.close()


async def _db_with_key_store(tmp_path: Path) -> tuple[SqliteDb, Path, Path]:
    path, keys = tmp_path / "ck.sqlite3", tmp_path / "keys.sqlite3"
    db = SqliteDb(path)
    await db.open()
    await db.executescript("CREATE TABLE t (x BLOB)")
    await db.run(lambda c: c.execute("ATTACH DATABASE ? AS extra", (str(keys),)), write=False)
    await db.run(lambda c: c.execute("PRAGMA extra.journal_mode=WAL").fetchone(), write=False)
    await db.run(lambda c: c.execute("CREATE TABLE extra.k (x BLOB)"))
    for _ in range(300):
        await db.run(lambda c: c.execute("INSERT INTO t VALUES (randomblob(4000))"))
        await db.run(lambda c: c.execute("INSERT INTO extra.k VALUES (randomblob(4000))"))
    return db, path, keys


async def test_commits_never_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint (and its fsync) inside an inline commit would stall the event loop."""
    monkeypatch.setattr(sqlite_module, "CHECKPOINT_EVERY_S", 3600.0)
    db, path, keys = await _db_with_key_store(tmp_path)
    assert path.stat().st_size < 100_000 and keys.stat().st_size < 100_000  # everything is still in the WALs
    await db.close()
    assert path.stat().st_size > 1_000_000  # the last close checkpoints


async def test_checkpoints_run_in_the_background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """For the main file and for attached ones (the key store)."""
    monkeypatch.setattr(sqlite_module, "CHECKPOINT_EVERY_S", 0.05)
    db, path, keys = await _db_with_key_store(tmp_path)
    for _ in range(100):
        if path.stat().st_size > 1_000_000 and keys.stat().st_size > 1_000_000:
            break
        await asyncio.sleep(0.1)
    assert path.stat().st_size > 1_000_000 and keys.stat().st_size > 1_000_000
    await db.close()


async def test_writes_of_one_iteration_share_a_commit_and_fail_alone(tmp_path: Path) -> None:
    path = tmp_path / "group.sqlite3"
    db = SqliteDb(path)
    await db.open()
    await db.executescript("CREATE TABLE t (x INTEGER)")
    outside = sqlite3.connect(path)
    committed_seen: list[int] = []

    def write(n: int) -> Callable[[sqlite3.Connection], int]:
        def op(c: sqlite3.Connection) -> int:
            c.execute("INSERT INTO t VALUES (?)", (n,))
            committed_seen.append(outside.execute("SELECT COUNT(*) FROM t").fetchone()[0])
            if n == 3:
                raise ValueError("this one fails")
            return n

        return op

    results = await asyncio.gather(*(db.run(write(n)) for n in range(8)), return_exceptions=True)
    assert [r if not isinstance(r, ValueError) else "failed" for r in results] == [0, 1, 2, "failed", 4, 5, 6, 7]
    assert committed_seen == [0] * 8  # one transaction: nothing was committed while they ran
    rows = sorted(r[0] for r in outside.execute("SELECT x FROM t"))
    assert rows == [0, 1, 2, 4, 5, 6, 7]  # the failed write alone was rolled back
    assert await db.run(write(9)) == 9  # and a later write is a group of its own
    assert committed_seen[-1] == 7
    outside.close()
    await db.close()


def _encrypted_store(tmp_path: Path) -> SqliteConversationStore:
    ring = Keyring(active="k1", keys={"k1": os.urandom(32)})
    return SqliteConversationStore(SqliteDb(tmp_path / "c.sqlite3"), FieldCipher(ring))


def _message(n: int) -> Inbound:
    return Inbound("webchat", "u1", "c1", f"m{n}", datetime(2026, 11, 25, tzinfo=UTC), text=f"hello {n}")


async def test_an_erasure_racing_a_write_never_leaves_data_under_a_deleted_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys are read inside the write's own transaction. Here the contact's key is deleted
    (as an erasure in another process would) just before the write's statements run: a key
    looked up earlier, outside the transaction, would seal the message under a key that no
    longer exists, unreadable for good."""
    store = _encrypted_store(tmp_path)
    await store.open()
    try:
        await store.accept_inbound(_message(1))
        await store.db.run(lambda c: c.execute("DELETE FROM inbound"))
        run = store.db.run
        armed = [True]

        async def racing(fn: Callable[[sqlite3.Connection], object], *, write: bool = True,
                         offload: bool = False) -> object:
            if write and armed[0]:
                armed[0] = False

                def erase_then(c: sqlite3.Connection) -> object:
                    c.execute("DELETE FROM keys.contact_keys WHERE contact_id = 'c1'")
                    return fn(c)

                return await run(erase_then, write=write, offload=offload)
            return await run(fn, write=write, offload=offload)

        monkeypatch.setattr(store.db, "run", racing)
        await store.accept_inbound(_message(2))
        monkeypatch.undo()
        pending = await store.next_pending("c1")
        assert pending is not None and pending.message.text == "hello 2"
    finally:
        await store.close()


async def test_a_key_that_keeps_vanishing_fails_the_write_whole(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    store = _encrypted_store(tmp_path)
    await store.open()
    try:
        def vanished(*_args: object) -> None:
            raise sqlite_module._KeyMissing("c1")

        monkeypatch.setattr(sqlite_module, "_existing_keys", vanished)
        with pytest.raises(StoreError, match="vanish"):
            await store.accept_inbound(_message(1))
        monkeypatch.undo()
        assert await store.next_pending("c1") is None  # nothing half-written
    finally:
        await store.close()


async def test_a_turn_of_an_idle_contact_costs_no_read_back_and_hands_its_reply_over(tmp_path: Path) -> None:
    """The embedded store does what the port allows: the accepted message comes back leased
    (from memory, not read back), and the commit claims the turn's first reply for the
    caller to send at once (the outbox worker's claim round would otherwise take it)."""
    store = _encrypted_store(tmp_path)
    await store.open()
    try:
        now = datetime(2026, 11, 25, tzinfo=UTC)
        until = now + timedelta(seconds=30)
        message = _message(1)
        seq, turn = await store.accept_and_lease(message, "a", now, until)
        assert seq is not None and turn is not None and turn[0].message is message
        draft = OutboxDraft(f"turn:{seq}:0", "c1", "webchat", "u1", Reply("hi"), seq)
        released, [item] = await store.commit_and_claim(TurnCommit("c1", 0, {}, seq, [draft], []), "a", until)
        assert released and item.reply.text == "hi" and item.attempts == 1
        row = await store.db.fetchone("SELECT lease_owner, attempts FROM outbox WHERE id = ?", (item.id,))
        assert row is not None and (row["lease_owner"], row["attempts"]) == ("a", 1)
        # A commit that finds its turn already done (a retry) claims nothing again.
        assert await store.commit_and_claim(TurnCommit("c1", 0, {}, seq, [draft], []), "a", until) == (True, [])
    finally:
        await store.close()
