"""Must-show: two scheduler processes on one store, 1,000 due reminders, one process SIGKILLed mid-run.

Real OS processes (``tests/scheduler/worker_main.py``) on one SQLite file. Each reminder
must be sent exactly once; the killed worker's leased jobs must be caught up by the
survivor once their leases expire. See worker_main's docstring for how sends are recorded
so that a duplicate would be counted, not swallowed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from caseline.scheduler import utc_now
from caseline.store.jobs_base import NewJob
from caseline.store.jobs_sqlite import SqliteJobStore
from caseline.store.sqlite import SqliteDb

ROOT = Path(__file__).resolve().parents[2]
JOBS = 1000
KILL_AFTER = 100
IN_FLIGHT = ("SELECT COUNT(*) FROM handler_runs r WHERE r.owner = 'victim'"
             " AND NOT EXISTS (SELECT 1 FROM sends s WHERE s.job_key = r.job_key)")


async def seed(path: Path) -> None:
    db = SqliteDb(path)
    store = SqliteJobStore(db)
    await store.open()
    due = utc_now() - timedelta(seconds=1)
    for i in range(JOBS):
        await store.schedule(NewJob("reminder", f"reminder:e{i:04}:2026-03-29T09:00", due + timedelta(milliseconds=i)))
    await db.close()


def start(path: Path, owner: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.scheduler.worker_main", str(path), owner, *extra],
        cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )


def scalar(conn: sqlite3.Connection, sql: str, *params: object) -> int:
    return int(conn.execute(sql, params).fetchone()[0])


@pytest.mark.slow
def test_two_processes_send_each_reminder_once_even_when_one_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    asyncio.run(seed(path))
    victim = start(path, "victim", tmp_path / "victim.log", str(KILL_AFTER))
    survivor = start(path, "survivor", tmp_path / "survivor.log")
    conn = sqlite3.connect(path, timeout=30)
    try:
        # Kill the victim mid-run: once it has sent KILL_AFTER, at a moment a handler of its
        # has started (its run is recorded) but not yet sent and completed. From then on the
        # victim holds the handlers it starts, so the moment cannot slip past on a busy machine.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                sent = scalar(conn, "SELECT COUNT(*) FROM sends WHERE owner = 'victim'")
                in_flight = scalar(conn, IN_FLIGHT)
            except sqlite3.OperationalError:  # tables not created yet
                sent = in_flight = 0
            if sent >= KILL_AFTER and in_flight > 0:
                os.kill(victim.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        else:
            pytest.fail(f"the victim never got going: sent {sent}, in flight {in_flight},"
                        f" exit {victim.poll()}; log: {(tmp_path / 'victim.log').read_text()[-2000:]}")
        assert victim.wait(10) == -signal.SIGKILL
        assert survivor.wait(120) == 0, (tmp_path / "survivor.log").read_text()

        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
        assert statuses == {"done": JOBS}, "no job left pending, running or failed"
        keys = {r[0] for r in conn.execute("SELECT key FROM jobs")}

        # Each reminder sent exactly once: the append-only table has one row per key.
        assert scalar(conn, "SELECT COUNT(*) FROM sends") == JOBS
        assert {r[0] for r in conn.execute("SELECT DISTINCT job_key FROM sends")} == keys
        assert conn.execute("SELECT job_key FROM sends GROUP BY job_key HAVING COUNT(*) > 1").fetchall() == []
        # The keyed outbox write (the real handler's way) also holds one row per job.
        assert scalar(conn, "SELECT COUNT(*) FROM outbox") == JOBS
        # A send and its completion commit together: the sender is the job's completer.
        assert scalar(conn, "SELECT COUNT(*) FROM sends s JOIN jobs j ON j.key = s.job_key"
                            " WHERE s.owner != j.lease_owner") == 0

        # Both really worked, and the survivor caught up the victim's expired leases: those
        # jobs were claimed twice (attempts == 2), finished by the survivor, sent once.
        by_owner = dict(conn.execute("SELECT owner, COUNT(*) FROM sends GROUP BY owner").fetchall())
        assert by_owner["victim"] >= KILL_AFTER and by_owner["survivor"] >= 1
        attempts = dict(conn.execute("SELECT key, attempts FROM jobs").fetchall())
        completer = dict(conn.execute("SELECT key, lease_owner FROM jobs").fetchall())
        caught_up = {k for k, n in attempts.items() if n > 1}
        assert caught_up and set(attempts.values()) == {1, 2}
        assert {completer[k] for k in caught_up} == {"survivor"}
        # The at-least-once boundary is visible: handlers the victim started were re-run by
        # the survivor, and each of those reminders still went out once (checked above).
        taken_over = {k for (k,) in conn.execute(
            "SELECT r.job_key FROM handler_runs r JOIN sends s ON s.job_key = r.job_key"
            " WHERE r.owner = 'victim' AND s.owner = 'survivor'"
        )}
        reruns = {k for (k,) in conn.execute("SELECT job_key FROM handler_runs GROUP BY job_key HAVING COUNT(*) > 1")}
        assert taken_over, "the kill landed inside at least one handler"
        assert reruns == taken_over and reruns <= caught_up
    finally:
        conn.close()
        for proc in (victim, survivor):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
