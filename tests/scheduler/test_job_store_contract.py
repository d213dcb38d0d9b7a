"""The job store contract, held against every adapter (sqlite, mongo-fake, mongo-real)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from caseline.scheduler import job_store
from caseline.store.factory import Backend
from caseline.store.jobs_base import JobStore, NewJob
from caseline.store.jobs_sqlite import SqliteJobStore
from caseline.store.sqlite import SqliteDb

T0 = datetime(2026, 10, 25, 6, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def job(key: str, due: datetime = T0, kind: str = "reminder", **data: object) -> NewJob:
    return NewJob(kind, key, due, dict(data))


@pytest.fixture
async def store(backend: Backend) -> JobStore:
    s = job_store(backend)
    await s.open()
    await s.open()  # idempotent
    return s


async def test_schedule_is_idempotent_by_key(store: JobStore) -> None:
    first = await store.schedule(job("reminder:e1:2026-10-25T09:00", n=1))
    again = await store.schedule(job("reminder:e1:2026-10-25T09:00", due=T0 + timedelta(hours=5), n=2))
    assert first == again
    assert await store.count() == 1
    stored = await store.get("reminder:e1:2026-10-25T09:00")
    assert stored is not None and stored.id == first and stored.due_at == T0 and stored.data == {"n": 1}
    assert stored.status == "pending" and stored.attempts == 0 and stored.lease_owner is None
    assert await store.get_by_id(first) == stored


async def test_concurrent_schedules_of_one_key_make_one_job(store: JobStore) -> None:
    ids = await asyncio.gather(*(store.schedule(job("k")) for _ in range(10)))
    assert len(set(ids)) == 1 and await store.count() == 1


async def test_claim_takes_due_jobs_earliest_first_and_leases_them(store: JobStore) -> None:
    for i in (3, 1, 2):
        await store.schedule(job(f"k{i}", T0 + timedelta(minutes=i)))
    await store.schedule(job("later", T0 + timedelta(hours=1)))
    now = T0 + timedelta(minutes=2)
    claimed = await store.claim_due("a", now, now + timedelta(hours=1), limit=10)
    assert [j.key for j in claimed] == ["k1", "k2"]
    assert all(j.status == "running" and j.lease_owner == "a" and j.attempts == 1 for j in claimed)
    assert all(j.lease_until == now + timedelta(hours=1) for j in claimed)
    assert await store.claim_due("b", now, now + LEASE) == []  # leased, or not due yet
    later = T0 + timedelta(minutes=3)
    assert [j.key for j in await store.claim_due("b", later, later + LEASE, limit=1)] == ["k3"]
    assert await store.count("running") == 3 and await store.count("pending") == 1


async def test_claim_respects_limit_and_kinds(store: JobStore) -> None:
    for i in range(5):
        await store.schedule(job(f"r{i}", kind="reminder"))
        await store.schedule(job(f"f{i}", kind="followup"))
    got = await store.claim_due("a", T0, T0 + LEASE, limit=3, kinds=["followup"])
    assert len(got) == 3 and {j.kind for j in got} == {"followup"}
    assert await store.claim_due("a", T0, T0 + LEASE, kinds=[]) == []
    assert await store.count("pending", kind="reminder") == 5


async def test_concurrent_claimers_take_each_job_once(store: JobStore) -> None:
    for i in range(100):
        await store.schedule(job(f"k{i:03}", T0 - timedelta(seconds=i)))

    async def claimer(n: int) -> list[str]:
        keys: list[str] = []
        while batch := await store.claim_due(f"w{n}", T0, T0 + LEASE, limit=3):
            keys += [j.key for j in batch]
            await asyncio.sleep(0)
        return keys

    results = await asyncio.gather(*(claimer(n) for n in range(20)))
    every = [k for keys in results for k in keys]
    assert len(every) == 100 and len(set(every)) == 100
    assert await store.count("running") == 100


async def test_complete_is_fenced_by_the_lease(store: JobStore) -> None:
    job_id = await store.schedule(job("k"))
    (a,) = await store.claim_due("a", T0, T0 + LEASE)
    # "a" stalls past its lease; "b" takes the job over (the catch-up after a crash).
    (b,) = await store.claim_due("b", T0 + LEASE + timedelta(seconds=1), T0 + 3 * LEASE)
    assert a.id == b.id == job_id and b.attempts == 2 and b.lease_owner == "b"
    assert not await store.complete(job_id, "a", T0)
    assert not await store.retry(job_id, "a", T0, "late")
    assert not await store.fail(job_id, "a", T0, "late")
    assert not await store.renew(job_id, "a", T0 + 9 * LEASE)
    assert await store.renew(job_id, "b", T0 + 4 * LEASE)
    assert await store.complete(job_id, "b", T0 + LEASE * 2)
    assert await store.complete(job_id, "b", T0 + LEASE * 2), "completing twice is idempotent for the owner"
    assert not await store.complete(job_id, "a", T0 + LEASE * 2)
    done = await store.get("k")
    assert done is not None and done.status == "done" and done.done_at == T0 + LEASE * 2
    assert await store.claim_due("c", T0 + timedelta(days=30), T0 + timedelta(days=31)) == [], "done never reruns"
    assert await store.schedule(job("k")) == job_id and (await store.get("k")) == done, "nor does a re-schedule"


async def test_catch_up_claims_overdue_and_expired_running_jobs(store: JobStore) -> None:
    restart = T0 + timedelta(days=3)
    await store.schedule(job("overdue", T0))
    await store.schedule(job("crashed", T0 - timedelta(hours=1)))
    await store.schedule(job("busy", T0 - timedelta(hours=2)))
    await store.schedule(job("future", restart + timedelta(hours=1)))
    await store.claim_due("dead", T0, T0 + LEASE, kinds=["reminder"], limit=1)  # "busy": worker then died
    await store.claim_due("dead", T0, T0 + LEASE, limit=1)  # "crashed"
    alive = await store.claim_due("alive", restart - timedelta(seconds=10), restart + LEASE, limit=1)
    assert [j.key for j in alive] == ["busy"], "an expired lease is claimable; the earliest due first"
    got = await store.claim_due("new", restart, restart + LEASE, limit=10)
    assert [j.key for j in got] == ["crashed", "overdue"], "a live lease is not taken; future jobs wait"
    crashed = got[0]
    assert crashed.attempts == 2 and crashed.lease_owner == "new"


async def test_retry_returns_the_job_to_pending_at_the_next_due_time(store: JobStore) -> None:
    job_id = await store.schedule(job("k"))
    await store.claim_due("a", T0, T0 + LEASE)
    assert await store.retry(job_id, "a", T0 + timedelta(minutes=5), "boom")
    again = await store.get("k")
    assert again is not None and again.status == "pending" and again.last_error == "boom"
    assert again.due_at == T0 + timedelta(minutes=5) and again.lease_owner is None and again.attempts == 1
    assert await store.claim_due("a", T0 + timedelta(minutes=4), T0 + LEASE) == []
    (second,) = await store.claim_due("a", T0 + timedelta(minutes=5), T0 + timedelta(minutes=6))
    assert second.attempts == 2
    assert await store.fail(job_id, "a", T0 + timedelta(minutes=5), "gave up")
    failed = await store.get("k")
    assert failed is not None and failed.status == "failed" and failed.last_error == "gave up"
    assert await store.claim_due("a", T0 + timedelta(days=1), T0 + timedelta(days=2)) == []


async def test_cancel_by_key_and_by_prefix(store: JobStore) -> None:
    for n, enrolment in enumerate(("e1", "e2")):
        for day in (1, 2, 3):
            due = T0 + timedelta(minutes=10 * n + day)
            await store.schedule(job(f"reminder:{enrolment}:2026-11-0{day}T09:00", due))
    await store.schedule(job("reminder:e10:2026-11-01T09:00", T0 + timedelta(minutes=30)))
    t1 = T0 + timedelta(hours=1)
    done_id = (await store.claim_due("a", t1, t1 + LEASE, limit=1))[0].id  # e1 day 1
    assert await store.complete(done_id, "a", t1)
    running = await store.claim_due("a", t1, t1 + LEASE, limit=1)  # e1 day 2
    assert [j.key for j in running] == ["reminder:e1:2026-11-02T09:00"]

    assert await store.cancel("reminder:e2:2026-11-01T09:00", T0)
    assert not await store.cancel("reminder:e2:2026-11-01T09:00", T0), "already cancelled"
    assert not await store.cancel("reminder:e1:2026-11-01T09:00", T0), "done jobs stay done"
    assert not await store.cancel("nope", T0)
    assert await store.cancel_prefix("reminder:e1:", T0) == 2, "pending and running, not done, not e10"
    assert not await store.complete(running[0].id, "a", T0), "a cancelled job cannot be completed"
    assert await store.count("cancelled") == 3 and await store.count("done") == 1
    left = await store.claim_due("b", T0 + timedelta(days=9), T0 + timedelta(days=10), limit=10)
    assert sorted(j.key for j in left) == ["reminder:e10:2026-11-01T09:00", "reminder:e2:2026-11-02T09:00",
                                           "reminder:e2:2026-11-03T09:00"]
    assert await store.cancel_prefix("reminder.*", T0) == 0, "the prefix is literal, not a pattern"


async def test_list_count_and_purge(store: JobStore) -> None:
    for i in range(5):
        await store.schedule(job(f"k{i}", T0 + timedelta(minutes=i), kind="a" if i % 2 else "b", i=i))
    assert [j.key for j in await store.list_jobs()] == [f"k{i}" for i in range(5)]
    assert [j.key for j in await store.list_jobs(kind="a")] == ["k1", "k3"]
    assert [j.key for j in await store.list_jobs(limit=2, offset=1)] == ["k1", "k2"]
    assert [j.key for j in await store.list_jobs(key_prefix="k4")] == ["k4"]
    (first,) = await store.claim_due("w", T0, T0 + LEASE)
    assert await store.complete(first.id, "w", T0 + timedelta(minutes=1))
    assert [j.key for j in await store.list_jobs(status="done")] == ["k0"]
    assert await store.count() == 5 and await store.count("pending") == 4 and await store.count(kind="b") == 3
    assert await store.purge(T0) == 0
    assert await store.purge(T0 + timedelta(days=1)) == 1
    assert await store.count() == 4 and await store.get("k0") is None


async def test_times_are_aware_utc_at_millisecond_precision(store: JobStore) -> None:
    odd = datetime(2026, 3, 29, 3, 59, 59, 123456, tzinfo=UTC)
    await store.schedule(job("k", odd))
    stored = await store.get("k")
    assert stored is not None and stored.due_at == odd.replace(microsecond=123000)
    assert stored.due_at.tzinfo is not None
    with pytest.raises(ValueError):
        NewJob("reminder", "naive", datetime(2026, 1, 1))  # noqa: DTZ001


async def test_sqlite_claims_from_separate_connections_never_overlap(tmp_path: Path) -> None:
    """Twenty connections on one file, as twenty processes would have: each job claimed once."""
    path = tmp_path / "jobs.sqlite3"
    stores = [SqliteJobStore(SqliteDb(path)) for _ in range(20)]
    for s in stores:
        await s.open()
    for i in range(100):
        await stores[0].schedule(job(f"k{i:03}"))

    async def claimer(n: int) -> list[str]:
        keys: list[str] = []
        while batch := await stores[n].claim_due(f"w{n}", T0, T0 + LEASE, limit=2):
            keys += [j.key for j in batch]
            await asyncio.sleep(0)  # store calls may complete without suspending: let the others in
        return keys

    try:
        results = await asyncio.gather(*(claimer(n) for n in range(20)))
    finally:
        for s in stores:
            await s.db.close()
    every = [k for keys in results for k in keys]
    assert len(every) == 100 and len(set(every)) == 100
    assert sum(1 for keys in results if keys) > 1, "the claims really were spread over connections"
