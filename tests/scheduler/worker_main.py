"""A scheduler worker process for the multi-process test: ``python -m tests.scheduler.worker_main DB OWNER``.

Its "reminder" handler stands in for the real one, and shows where exactly-once comes from.

The scheduler is at-least-once for handlers: if this process dies after a handler started
but before the job is completed, another worker re-runs the handler once the lease
expires. So every run is logged in ``handler_runs`` (append-only, its own transaction,
committed *before* the effect): re-runs are visible there, never hidden.

The effect itself lands exactly once, two ways, as the real handlers will:

* ``outbox``: a row keyed by the job (``UNIQUE``, ``INSERT OR IGNORE``) in its own
  transaction, like ``ConversationStore.enqueue`` with key ``job:<id>``: a re-run after a
  crash between this write and ``complete`` writes nothing new;
* ``sends``: append-only, *no* unique constraint, written in the same SQLite transaction
  as the fenced completion (``SqliteJobStore.complete_in``): either both commit or
  neither does, and a worker that lost its lease writes nothing. Duplicates here would
  show up as repeated rows, which the test counts.

After ``READY`` rows from both workers exist (a start barrier), it runs until no job is
pending or running, waiting out the leases of a killed peer (the catch-up).

A third argument ``STALL_AFTER`` makes the process, once it has sent that many, hold every
handler it starts after recording the run: the test's SIGKILL then surely lands inside
handlers, however the two processes happen to share the jobs on a busy machine.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from pathlib import Path

from caseline.scheduler import Scheduler, utc_now
from caseline.store.jobs_base import Job
from caseline.store.jobs_sqlite import SqliteJobStore
from caseline.store.sqlite import SqliteDb

LEASE_SECONDS = 2.0
SEND_SECONDS = 0.02  # a send takes time; a kill lands inside handlers, not between them
WORKERS = 2

EFFECT_SCHEMA = """
CREATE TABLE IF NOT EXISTS ready (owner TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS handler_runs (job_key TEXT NOT NULL, owner TEXT NOT NULL, attempt INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (job_key TEXT NOT NULL UNIQUE, owner TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sends (job_key TEXT NOT NULL, owner TEXT NOT NULL);
"""


class LostLease(Exception):
    """The job is no longer ours: write no effect (the scheduler then reports it lost)."""


async def main(db_path: Path, owner: str, stall_after: int | None = None, deadline: float = 120.0) -> int:
    db = SqliteDb(db_path)
    store = SqliteJobStore(db)
    await store.open()
    await db.executescript(EFFECT_SCHEMA)
    sent = 0

    async def send(job: Job) -> None:
        nonlocal sent
        await db.run(lambda c: c.execute(
            "INSERT INTO handler_runs (job_key, owner, attempt) VALUES (?, ?, ?)", (job.key, owner, job.attempts)
        ))
        if stall_after is not None and sent >= stall_after:
            await asyncio.sleep(3600)  # until the test kills us
        await asyncio.sleep(SEND_SECONDS / 2)
        await db.run(lambda c: c.execute("INSERT OR IGNORE INTO outbox (job_key, owner) VALUES (?, ?)",
                                         (job.key, owner)))
        await asyncio.sleep(SEND_SECONDS / 2)

        def effect_and_complete(c: sqlite3.Connection) -> None:
            if not store.complete_in(c, job.id, owner, utc_now()):
                raise LostLease(job.key)  # rolls the transaction back: no send recorded
            c.execute("INSERT INTO sends (job_key, owner) VALUES (?, ?)", (job.key, owner))

        await db.run(effect_and_complete)
        sent += 1

    await db.run(lambda c: c.execute("INSERT OR IGNORE INTO ready (owner) VALUES (?)", (owner,)))
    start = time.monotonic()
    while (row := await db.fetchone("SELECT COUNT(*) AS n FROM ready")) is None or row["n"] < WORKERS:
        await asyncio.sleep(0.01)

    scheduler = Scheduler(store, {"reminder": send}, owner, lease_seconds=LEASE_SECONDS, batch=20)
    try:
        while time.monotonic() - start < deadline:
            report = await scheduler.run_once()
            if report.claimed:
                continue
            if await store.count("pending") + await store.count("running") == 0:
                return 0
            await asyncio.sleep(0.1)  # jobs leased by someone else, maybe a dead worker
        return 1
    finally:
        await db.close()


if __name__ == "__main__":
    stall = int(sys.argv[3]) if len(sys.argv) > 3 else None
    sys.exit(asyncio.run(main(Path(sys.argv[1]), sys.argv[2], stall)))
