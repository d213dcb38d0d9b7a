"""The scheduler loop over every adapter, on a fake clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from caseline.messages import Reply
from caseline.scheduler import Backoff, Scheduler, job_store
from caseline.store.base import OutboxDraft
from caseline.store.factory import Backend, conversation_store
from caseline.store.jobs_base import Job, JobStore, NewJob

T0 = datetime(2026, 3, 29, 5, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def store(backend: Backend) -> JobStore:
    s = job_store(backend)
    await s.open()
    return s


async def test_runs_due_jobs_once_and_leaves_future_ones(store: JobStore) -> None:
    clock, ran = Clock(), []

    async def handler(job: Job) -> None:
        ran.append(job.key)

    await store.schedule(NewJob("reminder", "due", T0 - timedelta(days=2)))
    await store.schedule(NewJob("reminder", "future", T0 + timedelta(hours=1)))
    sched = Scheduler(store, {"reminder": handler}, "w1", clock, 30)
    report = await sched.run_once()
    assert report.claimed == 1 and report.done == 1 and ran == ["due"]
    assert (await sched.run_once()).claimed == 0
    clock.now += timedelta(hours=1)
    assert (await sched.run_once()).done == 1 and ran == ["due", "future"]
    assert await store.count("done") == 2


async def test_errors_retry_with_backoff_then_fail(store: JobStore) -> None:
    clock, calls = Clock(), []

    async def flaky(job: Job) -> None:
        calls.append(clock.now)
        raise RuntimeError("platform down")

    await store.schedule(NewJob("reminder", "k", T0))
    sched = Scheduler(store, {"reminder": flaky}, "w1", clock, 30, max_attempts=3,
                      backoff=Backoff(timedelta(minutes=1), 2.0, timedelta(hours=1)))
    assert (await sched.run_once()).retried == 1
    job = await store.get("k")
    assert job is not None and job.status == "pending" and job.due_at == T0 + timedelta(minutes=1)
    assert job.last_error == "RuntimeError: platform down"
    clock.now += timedelta(seconds=59)
    assert (await sched.run_once()).claimed == 0, "not before the backoff"
    clock.now += timedelta(seconds=1)
    assert (await sched.run_once()).retried == 1
    clock.now += timedelta(minutes=2)
    assert (await sched.run_once()).failed == 1
    job = await store.get("k")
    assert job is not None and job.status == "failed" and job.attempts == 3 and len(calls) == 3
    clock.now += timedelta(days=1)
    assert (await sched.run_once()).claimed == 0


async def test_crash_after_effect_reruns_handler_but_idempotent_effect_lands_once(backend: Backend) -> None:
    """The at-least-once boundary: the effect is keyed by the job, so a re-run writes nothing twice."""
    store, conv = job_store(backend), conversation_store(backend)
    await store.open()
    await conv.open()
    clock, runs = Clock(), []

    async def remind(job: Job) -> None:
        runs.append(job.attempts)
        draft = OutboxDraft(f"job:{job.id}", "c1", "webchat", "u1", Reply("Time to check in"))
        await conv.enqueue([draft], [])

    job_id = await store.schedule(NewJob("reminder", "reminder:e1:2026-03-29T09:00", T0))
    (claimed,) = await store.claim_due("crashed", T0, T0 + timedelta(seconds=30))
    await remind(claimed)  # the effect happened, then the worker died before complete()
    clock.now = T0 + timedelta(seconds=31)
    report = await Scheduler(store, {"reminder": remind}, "w2", clock, 30).run_once()
    assert report.done == 1 and runs == [1, 2]
    assert await conv.outbox_backlog() == 1
    assert [i.key for i in await conv.outbox_since("c1")] == [f"job:{job_id}"]


async def test_a_worker_that_lost_its_lease_cannot_complete(store: JobStore) -> None:
    clock = Clock()
    await store.schedule(NewJob("reminder", "k", T0))

    async def slow(job: Job) -> None:
        clock.now += timedelta(seconds=31)  # the handler outlives its lease...
        (taken,) = await store.claim_due("w2", clock.now, clock.now + timedelta(seconds=30))  # ...and w2 takes over
        assert taken.id == job.id

    report = await Scheduler(store, {"reminder": slow}, "w1", clock, 30).run_once()
    assert report.lost == 1 and report.done == 0
    job = await store.get("k")
    assert job is not None and job.status == "running" and job.lease_owner == "w2"


async def test_a_poison_job_that_keeps_killing_workers_is_failed_unrun(store: JobStore) -> None:
    clock, ran = Clock(), []

    async def handler(job: Job) -> None:
        ran.append(job.key)

    await store.schedule(NewJob("reminder", "k", T0))
    for n in range(3):  # three workers die holding it
        now = T0 + timedelta(minutes=n)
        assert await store.claim_due(f"dead{n}", now, now + timedelta(seconds=30))
    clock.now = T0 + timedelta(minutes=5)
    report = await Scheduler(store, {"reminder": handler}, "w", clock, 30, max_attempts=3).run_once()
    assert report.failed == 1 and ran == []


async def test_only_known_kinds_are_claimed_and_slow_handlers_time_out(store: JobStore) -> None:
    clock = Clock()

    async def hang(job: Job) -> None:
        await asyncio.sleep(10)

    await store.schedule(NewJob("other", "o", T0))
    await store.schedule(NewJob("reminder", "r", T0))
    report = await Scheduler(store, {"reminder": hang}, "w", clock, 30, handler_timeout=0.05).run_once()
    assert report.claimed == 1 and report.retried == 1
    other = await store.get("o")
    r = await store.get("r")
    assert other is not None and other.status == "pending"
    assert r is not None and r.last_error is not None and r.last_error.startswith("TimeoutError")


async def test_run_forever_drains_and_stops(store: JobStore) -> None:
    stop, seen = asyncio.Event(), []

    async def handler(job: Job) -> None:
        seen.append(job.key)
        if len(seen) == 45:
            stop.set()

    for i in range(45):
        await store.schedule(NewJob("reminder", f"k{i}", T0))
    sched = Scheduler(store, {"reminder": handler}, "w", Clock(), 30, batch=10)
    await asyncio.wait_for(sched.run_forever(poll=0.01, stop=stop), 10)
    assert sorted(seen) == sorted(f"k{i}" for i in range(45))
    assert await store.count("done") == 45
