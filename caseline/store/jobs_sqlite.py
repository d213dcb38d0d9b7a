"""SQLite adapter of the job store, on the process's shared :class:`SqliteDb`.

Several processes share the file, so every transition is one ``BEGIN IMMEDIATE``
transaction (``SqliteDb.run``): a claim selects and leases its jobs under the write lock,
so no two workers can take the same job; complete/retry/fail are conditional updates on
``status = 'running' AND lease_owner = owner`` (the fence).

Times are stored as fixed-width UTC text (``YYYY-MM-DDTHH:MM:SS.mmmZ``) so that text
order is time order and the ``(status, due_at)`` index serves the claim.

:meth:`SqliteJobStore.complete_in` lets a handler that writes its effect to the same
SQLite file complete the job in the effect's own transaction: effect and completion
then commit together or not at all, which is exactly-once without an idempotency key.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from caseline.store.jobs_base import FINISHED, Job, JobStatus, JobStore, NewJob, utc_ms
from caseline.store.sqlite import SqliteDb

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    due_at TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until TEXT,
    last_error TEXT,
    done_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (status, due_at);
CREATE INDEX IF NOT EXISTS jobs_lease ON jobs (status, lease_until);
"""

_FENCE = "id = ? AND status = 'running' AND lease_owner = ?"
_OPEN = "status IN ('pending', 'running')"


def _ts(value: datetime) -> str:
    return utc_ms(value).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _dt(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _job(row: sqlite3.Row) -> Job:
    due = _dt(row["due_at"])
    assert due is not None
    status: JobStatus = row["status"]
    return Job(
        id=row["id"], kind=row["kind"], key=row["key"], due_at=due, data=json.loads(row["data"]),
        status=status, attempts=int(row["attempts"]), lease_owner=row["lease_owner"],
        lease_until=_dt(row["lease_until"]), last_error=row["last_error"], done_at=_dt(row["done_at"]),
        created_at=_dt(row["created_at"]),
    )


class SqliteJobStore(JobStore):
    def __init__(self, db: SqliteDb) -> None:
        self.db = db

    async def open(self) -> None:
        await self.db.open()
        await self.db.executescript(SCHEMA)

    async def schedule(self, job: NewJob) -> str:
        new_id = uuid.uuid4().hex
        now = _ts(datetime.now(UTC))

        def op(c: sqlite3.Connection) -> str:
            c.execute(
                "INSERT INTO jobs (id, kind, key, due_at, data, created_at) VALUES (?,?,?,?,?,?)"
                " ON CONFLICT (key) DO NOTHING",
                (new_id, job.kind, job.key, _ts(job.due_at), json.dumps(job.data), now),
            )
            return str(c.execute("SELECT id FROM jobs WHERE key = ?", (job.key,)).fetchone()["id"])

        return await self.db.run(op)

    async def claim_due(
        self, owner: str, now: datetime, lease_until: datetime, limit: int = 20,
        kinds: Sequence[str] | None = None,
    ) -> list[Job]:
        if kinds is not None and not kinds:
            return []
        params: list[Any] = [_ts(now), _ts(now)]
        kind_sql = ""
        if kinds is not None:
            kind_sql = f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        params.append(limit)

        def op(c: sqlite3.Connection) -> list[Job]:
            ids = [r["id"] for r in c.execute(
                "SELECT id FROM jobs WHERE ((status = 'pending' AND due_at <= ?)"
                " OR (status = 'running' AND lease_until < ?))" + kind_sql + " ORDER BY due_at, id LIMIT ?",
                params,
            ).fetchall()]
            c.executemany(
                "UPDATE jobs SET status = 'running', lease_owner = ?, lease_until = ?, attempts = attempts + 1"
                " WHERE id = ?",
                [(owner, _ts(lease_until), i) for i in ids],
            )
            jobs = [_job(r) for r in c.execute(
                f"SELECT * FROM jobs WHERE id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()] if ids else []
            return sorted(jobs, key=lambda j: (j.due_at, j.id))

        return await self.db.run(op)

    async def renew(self, job_id: str, owner: str, lease_until: datetime) -> bool:
        return await self.db.run(lambda c: c.execute(
            f"UPDATE jobs SET lease_until = ? WHERE {_FENCE}", (_ts(lease_until), job_id, owner)
        ).rowcount == 1)

    @staticmethod
    def complete_in(c: sqlite3.Connection, job_id: str, owner: str, now: datetime) -> bool:
        """The fenced completion, on a connection already inside the caller's transaction."""
        if c.execute(
            f"UPDATE jobs SET status = 'done', done_at = ?, lease_until = NULL WHERE {_FENCE}",
            (_ts(now), job_id, owner),
        ).rowcount == 1:
            return True
        again = c.execute(
            "SELECT 1 FROM jobs WHERE id = ? AND status = 'done' AND lease_owner = ?", (job_id, owner)
        ).fetchone()
        return again is not None

    async def complete(self, job_id: str, owner: str, now: datetime) -> bool:
        return await self.db.run(lambda c: self.complete_in(c, job_id, owner, now))

    async def retry(self, job_id: str, owner: str, next_due: datetime, error: str) -> bool:
        return await self.db.run(lambda c: c.execute(
            "UPDATE jobs SET status = 'pending', due_at = ?, last_error = ?, lease_owner = NULL,"
            f" lease_until = NULL WHERE {_FENCE}",
            (_ts(next_due), error, job_id, owner),
        ).rowcount == 1)

    async def fail(self, job_id: str, owner: str, now: datetime, error: str) -> bool:
        return await self.db.run(lambda c: c.execute(
            f"UPDATE jobs SET status = 'failed', done_at = ?, last_error = ?, lease_until = NULL WHERE {_FENCE}",
            (_ts(now), error, job_id, owner),
        ).rowcount == 1)

    async def cancel(self, key: str, now: datetime) -> bool:
        return await self.db.run(lambda c: c.execute(
            f"UPDATE jobs SET status = 'cancelled', done_at = ?, lease_until = NULL WHERE key = ? AND {_OPEN}",
            (_ts(now), key),
        ).rowcount == 1)

    async def cancel_prefix(self, key_prefix: str, now: datetime) -> int:
        return await self.db.run(lambda c: c.execute(
            "UPDATE jobs SET status = 'cancelled', done_at = ?, lease_until = NULL"
            f" WHERE substr(key, 1, ?) = ? AND {_OPEN}",
            (_ts(now), len(key_prefix), key_prefix),
        ).rowcount)

    async def get(self, key: str) -> Job | None:
        row = await self.db.fetchone("SELECT * FROM jobs WHERE key = ?", (key,))
        return None if row is None else _job(row)

    async def get_by_id(self, job_id: str) -> Job | None:
        row = await self.db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return None if row is None else _job(row)

    @staticmethod
    def _where(status: JobStatus | None, kind: str | None, key_prefix: str | None = None) -> tuple[str, list[Any]]:
        clauses: list[str] = ["1 = 1"]
        params: list[Any] = []
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        if key_prefix is not None:
            clauses.append("substr(key, 1, ?) = ?")
            params.extend([len(key_prefix), key_prefix])
        return " AND ".join(clauses), params

    async def list_jobs(
        self, status: JobStatus | None = None, kind: str | None = None, key_prefix: str | None = None,
        limit: int = 100, offset: int = 0,
    ) -> list[Job]:
        where, params = self._where(status, kind, key_prefix)
        rows = await self.db.fetchall(
            f"SELECT * FROM jobs WHERE {where} ORDER BY due_at, id LIMIT ? OFFSET ?", [*params, limit, offset]
        )
        return [_job(r) for r in rows]

    async def count(self, status: JobStatus | None = None, kind: str | None = None) -> int:
        where, params = self._where(status, kind)
        row = await self.db.fetchone(f"SELECT COUNT(*) AS n FROM jobs WHERE {where}", params)
        return 0 if row is None else int(row["n"])

    async def purge(self, before: datetime) -> int:
        marks = ",".join("?" * len(FINISHED))
        return await self.db.run(lambda c: c.execute(
            f"DELETE FROM jobs WHERE status IN ({marks}) AND done_at < ?", (*FINISHED, _ts(before))
        ).rowcount)
