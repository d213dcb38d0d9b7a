"""The durable scheduler: runs due jobs from the job store, once, across worker processes.

What it guarantees, and where the line is:

* a job is *completed* at most once, and only by the worker holding its lease (the store
  fences complete/retry/fail on the lease owner);
* a job that never completed is run again: after a handler error (retry with exponential
  backoff, up to ``max_attempts``, then ``failed``) or after its worker died (the lease
  expires and any worker's next claim takes it: the catch-up, with no duplicates because
  a completed job is never claimable again);
* the *handler* is at-least-once. A crash after the handler's effect but before
  ``complete`` re-runs the handler. Exactly-once effects therefore come from the effect's
  own store write being idempotent, keyed by the job (e.g. an outbox reply with key
  ``f"job:{job.id}"``: ``ConversationStore.enqueue`` ignores a key it has seen), or from
  writing the effect and the completion in one transaction
  (:meth:`caseline.store.jobs_sqlite.SqliteJobStore.complete_in`).

A job whose worker keeps dying (a poison job) also counts attempts, because each claim
counts one; past ``max_attempts`` it is failed without running again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from caseline.store.base import StoreError
from caseline.store.factory import Backend
from caseline.store.jobs_base import Job, JobStore
from caseline.waiting import wait_set

log = logging.getLogger("caseline.scheduler")

Handler = Callable[[Job], Awaitable[None]]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_owner() -> str:
    """Unique per worker: the lease fence needs two workers never to share an owner."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def job_store(backend: Backend) -> JobStore:
    """The job store adapter for the process's backend."""
    if backend.sqlite is not None:
        from caseline.store.jobs_sqlite import SqliteJobStore

        return SqliteJobStore(backend.sqlite)
    from caseline.store.jobs_mongo import MongoJobStore

    return MongoJobStore(backend.mongo)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry ``n`` (1-based): ``base * factor**(n-1)``, capped at ``cap``."""

    base: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    cap: timedelta = timedelta(hours=1)

    def delay(self, attempt: int) -> timedelta:
        return min(self.cap, self.base * self.factor ** max(0, attempt - 1))


@dataclass(frozen=True, slots=True)
class RunReport:
    claimed: int = 0
    done: int = 0
    retried: int = 0
    failed: int = 0
    lost: int = 0  # the lease was gone when the job finished (another worker took over)


class Scheduler:
    def __init__(
        self,
        store: JobStore,
        handlers: Mapping[str, Handler],
        owner: str | None = None,
        clock: Clock = utc_now,
        lease_seconds: float = 60.0,
        *,
        batch: int = 20,
        max_attempts: int = 5,
        backoff: Backoff = Backoff(),
        handler_timeout: float | None = None,
    ) -> None:
        if lease_seconds <= 0 or batch <= 0 or max_attempts <= 0:
            raise ValueError("lease_seconds, batch and max_attempts must be positive")
        self.store = store
        self.handlers = dict(handlers)
        self.owner = owner or default_owner()
        self.clock = clock
        self.lease = timedelta(seconds=lease_seconds)
        self.batch = batch
        self.max_attempts = max_attempts
        self.backoff = backoff
        # A handler still running when its lease ends may be run again elsewhere; stop it first.
        self.handler_timeout = handler_timeout if handler_timeout is not None else lease_seconds * 0.8

    async def run_once(self) -> RunReport:
        """Claim one batch of due jobs (this worker's kinds only) and run them concurrently."""
        now = self.clock()
        jobs = await self.store.claim_due(self.owner, now, now + self.lease, self.batch, kinds=sorted(self.handlers))
        if not jobs:
            return RunReport()
        outcomes = await asyncio.gather(*(self._run(job) for job in jobs))
        return RunReport(
            claimed=len(jobs), done=outcomes.count("done"), retried=outcomes.count("retried"),
            failed=outcomes.count("failed"), lost=outcomes.count("lost"),
        )

    async def _run(self, job: Job) -> str:
        if job.attempts > self.max_attempts:
            ok = await self.store.fail(job.id, self.owner, self.clock(), "abandoned: worker lost too often")
            log.error("job abandoned after %d claims", job.attempts, extra={"status": "failed"})
            return "failed" if ok else "lost"
        try:
            async with asyncio.timeout(self.handler_timeout):
                await self.handlers[job.kind](job)
        except Exception as exc:  # a handler's failure is the job's, never the worker's
            error = f"{type(exc).__name__}: {exc}"[:500]
            now = self.clock()
            if job.attempts >= self.max_attempts:
                ok = await self.store.fail(job.id, self.owner, now, error)
                log.error("job %s failed after %d attempts", job.kind, job.attempts, extra={"status": "failed"})
                return "failed" if ok else "lost"
            ok = await self.store.retry(job.id, self.owner, now + self.backoff.delay(job.attempts), error)
            log.warning("job %s will retry", job.kind, extra={"attempts": job.attempts})
            return "retried" if ok else "lost"
        if await self.store.complete(job.id, self.owner, self.clock()):
            return "done"
        log.warning("job %s finished after losing its lease", job.kind, extra={"status": "lost"})
        return "lost"

    async def run_forever(self, poll: float = 1.0, stop: asyncio.Event | None = None) -> None:
        """Run batches until ``stop`` is set; a full batch goes again at once, else wait ``poll``.

        A store outage is logged and waited out; it never ends the loop.
        """
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                report = await self.run_once()
            except StoreError as exc:
                log.warning("scheduler store unavailable: %s", type(exc).__name__)
                report = RunReport()
            if report.claimed >= self.batch:
                continue
            await wait_set(stop, poll)
