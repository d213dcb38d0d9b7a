"""SqliteDb runs small operations inline on the event loop; closing must not race them.

CI once died of a segfault: the probation scheduler's inline claim ran on the connection
while aiosqlite's thread was closing it at shutdown.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from caseline.store.base import StoreUnavailable
from caseline.store.sqlite import SqliteDb


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


async def test_checkpoints_run_off_the_commits_in_the_background(tmp_path: Path) -> None:
    """Commits never checkpoint (that fsync would stall the loop); the background task does,
    for the main file and for attached ones (the key store)."""
    path, keys = tmp_path / "ck.sqlite3", tmp_path / "keys.sqlite3"
    db = SqliteDb(path)
    await db.open()
    await db.executescript("CREATE TABLE t (x BLOB)")
    await db.run(lambda c: c.execute("ATTACH DATABASE ? AS extra", (str(keys),)), write=False)
    await db.run(lambda c: c.execute("PRAGMA extra.journal_mode=WAL").fetchone(), write=False)
    await db.run(lambda c: c.execute("CREATE TABLE extra.k (x BLOB)"))
    main_before, keys_before = path.stat().st_size, keys.stat().st_size
    for _ in range(300):
        await db.run(lambda c: c.execute("INSERT INTO t VALUES (randomblob(4000))"))
        await db.run(lambda c: c.execute("INSERT INTO extra.k VALUES (randomblob(4000))"))
    assert path.stat().st_size == main_before  # all still in the WAL: no commit checkpointed
    for _ in range(40):
        await asyncio.sleep(0.1)
        if path.stat().st_size > 1_000_000 and keys.stat().st_size > 1_000_000:
            break
    assert path.stat().st_size > 1_000_000 and keys.stat().st_size > 1_000_000
    assert keys_before < 1_000_000
    await db.close()
