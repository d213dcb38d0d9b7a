"""The job store port: durable, leased, idempotent jobs for the scheduler.

Reminders must go out exactly once however many worker processes run, and overdue ones
must still go out after a crash or downtime. Process memory cannot give either, so the
store does, with three mechanisms that both adapters (SQLite, MongoDB) implement and one
contract suite (tests/scheduler) holds them to:

* a unique ``key`` per job makes scheduling idempotent: a planner may re-run freely;
* a claim moves due jobs to ``running`` with a lease (owner + expiry) in one atomic step,
  so two workers never run the same job at once; a ``running`` job whose lease expired
  (its worker died) is claimable again, which is the catch-up after a crash;
* completion is fenced on the lease owner: a worker that lost its lease cannot mark the
  job done (or retry/fail it) over the worker that took it over.

Times are aware UTC datetimes, stored to millisecond precision (MongoDB's) by both adapters.
Owners must be unique per running worker (the scheduler generates ``host:pid:random``).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

JobStatus = Literal["pending", "running", "done", "failed", "cancelled"]
JOB_STATUSES: tuple[JobStatus, ...] = ("pending", "running", "done", "failed", "cancelled")
FINISHED: tuple[JobStatus, ...] = ("done", "failed", "cancelled")


def utc_ms(value: datetime) -> datetime:
    """``value`` in UTC truncated to milliseconds; naive datetimes are refused, not guessed."""
    if value.tzinfo is None:
        raise ValueError("job times must be timezone-aware")
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to schedule; ``key`` is its idempotency key, e.g. ``reminder:<enrolment>:<local time>``."""

    kind: str
    key: str
    due_at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.kind or not self.key:
            raise ValueError("a job needs a kind and a key")
        object.__setattr__(self, "due_at", utc_ms(self.due_at))
        json.dumps(self.data)  # JSON only, so both adapters store the same thing


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    kind: str
    key: str
    due_at: datetime
    data: dict[str, Any]
    status: JobStatus
    attempts: int
    lease_owner: str | None = None
    lease_until: datetime | None = None
    last_error: str | None = None
    done_at: datetime | None = None
    created_at: datetime | None = None


class JobStore(ABC):
    """Port for the scheduler; every method is atomic on its own."""

    @abstractmethod
    async def open(self) -> None:
        """Create the table / indexes; idempotent."""

    @abstractmethod
    async def schedule(self, job: NewJob) -> str:
        """Insert a pending job unless its key exists; returns the (new or existing) job id.

        A second schedule with the same key changes nothing, whatever its status.
        """

    @abstractmethod
    async def claim_due(
        self, owner: str, now: datetime, lease_until: datetime, limit: int = 20,
        kinds: Sequence[str] | None = None,
    ) -> list[Job]:
        """Lease up to ``limit`` jobs, earliest ``due_at`` first, and return them as ``running``.

        Claimable: ``pending`` with ``due_at <= now``, and ``running`` with ``lease_until < now``
        (a crashed worker's job). Each claim adds one to ``attempts``. ``kinds`` restricts the
        claim to jobs this worker can handle, so a worker never takes a kind it does not know.
        """

    @abstractmethod
    async def renew(self, job_id: str, owner: str, lease_until: datetime) -> bool:
        """Extend a running job's lease; false if ``owner`` no longer holds it."""

    @abstractmethod
    async def complete(self, job_id: str, owner: str, now: datetime) -> bool:
        """Mark a running job done if ``owner`` holds its lease; false otherwise (fencing).

        Idempotent for the owner: completing a job this owner already completed is true.
        """

    @abstractmethod
    async def retry(self, job_id: str, owner: str, next_due: datetime, error: str) -> bool:
        """Return a running job to ``pending`` at ``next_due`` with ``last_error``; fenced like complete."""

    @abstractmethod
    async def fail(self, job_id: str, owner: str, now: datetime, error: str) -> bool:
        """Give a running job up as ``failed``; fenced like complete."""

    @abstractmethod
    async def cancel(self, key: str, now: datetime) -> bool:
        """Cancel the pending or running job with ``key``; false if there is none."""

    @abstractmethod
    async def cancel_prefix(self, key_prefix: str, now: datetime) -> int:
        """Cancel every pending or running job whose key starts with ``key_prefix``.

        E.g. ``reminder:<enrolment>:`` when an enrolment ends. Returns how many.
        """

    @abstractmethod
    async def get(self, key: str) -> Job | None: ...

    @abstractmethod
    async def get_by_id(self, job_id: str) -> Job | None: ...

    @abstractmethod
    async def list_jobs(
        self, status: JobStatus | None = None, kind: str | None = None, key_prefix: str | None = None,
        limit: int = 100, offset: int = 0,
    ) -> list[Job]:
        """Jobs by ``due_at`` then id, for tests and the console."""

    @abstractmethod
    async def count(self, status: JobStatus | None = None, kind: str | None = None) -> int: ...

    @abstractmethod
    async def purge(self, before: datetime) -> int:
        """Delete finished (done, failed, cancelled) jobs that finished before ``before``.

        A purged key can be scheduled again, so keep finished jobs for longer than any
        planner could re-plan the same occurrence.
        """
