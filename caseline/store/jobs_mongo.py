"""MongoDB adapter of the job store (PyMongo ``AsyncDatabase`` or the test suite's fake).

Every transition is one single-document conditional write, so no transaction (and no
replica set) is needed: scheduling relies on a unique index on ``key``; a claim takes
one document at a time with ``find_one_and_update`` sorted by ``due_at`` (two workers can
never both match the same pending or expired document); complete/retry/fail match on
``status: running, lease_owner: owner`` (the fence).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from caseline.store.base import StoreUnavailable
from caseline.store.jobs_base import FINISHED, Job, JobStatus, JobStore, NewJob, utc_ms

CLAIM_SORT = [("due_at", ASCENDING), ("_id", ASCENDING)]
_OPEN = {"$in": ["pending", "running"]}


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _job(d: dict[str, Any]) -> Job:
    due = _aware(d["due_at"])
    assert due is not None
    return Job(
        id=str(d["_id"]), kind=str(d["kind"]), key=str(d["key"]), due_at=due, data=dict(d.get("data") or {}),
        status=d["status"], attempts=int(d.get("attempts", 0)), lease_owner=d.get("lease_owner"),
        lease_until=_aware(d.get("lease_until")), last_error=d.get("last_error"),
        done_at=_aware(d.get("done_at")), created_at=_aware(d.get("created_at")),
    )


def _prefix(key_prefix: str) -> dict[str, Any]:
    return {"$regex": "^" + re.escape(key_prefix)}  # an anchored prefix regex uses the key index


class MongoJobStore(JobStore):
    def __init__(self, db: Any) -> None:
        self.db = db
        self.jobs = db["jobs"]

    async def open(self) -> None:
        try:
            await self.jobs.create_index("key", unique=True, name="job_key")
            await self.jobs.create_index([("status", ASCENDING), ("due_at", ASCENDING)], name="job_due")
            await self.jobs.create_index([("status", ASCENDING), ("lease_until", ASCENDING)], name="job_lease")
        except PyMongoError as exc:
            raise StoreUnavailable(f"cannot prepare MongoDB jobs: {exc}") from exc

    async def schedule(self, job: NewJob) -> str:
        existing = await self.jobs.find_one({"key": job.key}, {"_id": 1})
        if existing is None:
            with contextlib.suppress(DuplicateKeyError):  # a concurrent schedule of the same key won
                await self.jobs.insert_one({
                    "_id": uuid.uuid4().hex, "kind": job.kind, "key": job.key, "due_at": job.due_at,
                    "data": job.data, "status": "pending", "attempts": 0, "lease_owner": None,
                    "lease_until": None, "last_error": None, "done_at": None,
                    "created_at": utc_ms(datetime.now(UTC)),
                })
            existing = await self.jobs.find_one({"key": job.key}, {"_id": 1})
        assert existing is not None
        return str(existing["_id"])

    async def claim_due(
        self, owner: str, now: datetime, lease_until: datetime, limit: int = 20,
        kinds: Sequence[str] | None = None,
    ) -> list[Job]:
        if kinds is not None and not kinds:
            return []
        now, until = utc_ms(now), utc_ms(lease_until)
        query: dict[str, Any] = {"$or": [
            {"status": "pending", "due_at": {"$lte": now}},
            {"status": "running", "lease_until": {"$lt": now}},
        ]}
        if kinds is not None:
            query["kind"] = {"$in": list(kinds)}
        claimed: list[Job] = []
        while len(claimed) < limit:
            doc = await self.jobs.find_one_and_update(
                query,
                {"$set": {"status": "running", "lease_owner": owner, "lease_until": until}, "$inc": {"attempts": 1}},
                sort=CLAIM_SORT, return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                break
            claimed.append(_job(doc))
        return claimed

    def _fence(self, job_id: str, owner: str) -> dict[str, Any]:
        return {"_id": job_id, "status": "running", "lease_owner": owner}

    async def renew(self, job_id: str, owner: str, lease_until: datetime) -> bool:
        res = await self.jobs.update_one(self._fence(job_id, owner), {"$set": {"lease_until": utc_ms(lease_until)}})
        return bool(res.matched_count == 1)

    async def complete(self, job_id: str, owner: str, now: datetime) -> bool:
        res = await self.jobs.update_one(
            self._fence(job_id, owner), {"$set": {"status": "done", "done_at": utc_ms(now), "lease_until": None}}
        )
        if res.matched_count == 1:
            return True
        again = await self.jobs.find_one({"_id": job_id, "status": "done", "lease_owner": owner}, {"_id": 1})
        return again is not None

    async def retry(self, job_id: str, owner: str, next_due: datetime, error: str) -> bool:
        res = await self.jobs.update_one(self._fence(job_id, owner), {"$set": {
            "status": "pending", "due_at": utc_ms(next_due), "last_error": error,
            "lease_owner": None, "lease_until": None,
        }})
        return bool(res.matched_count == 1)

    async def fail(self, job_id: str, owner: str, now: datetime, error: str) -> bool:
        res = await self.jobs.update_one(self._fence(job_id, owner), {"$set": {
            "status": "failed", "done_at": utc_ms(now), "last_error": error, "lease_until": None,
        }})
        return bool(res.matched_count == 1)

    async def cancel(self, key: str, now: datetime) -> bool:
        res = await self.jobs.update_one(
            {"key": key, "status": _OPEN},
            {"$set": {"status": "cancelled", "done_at": utc_ms(now), "lease_until": None}},
        )
        return bool(res.matched_count == 1)

    async def cancel_prefix(self, key_prefix: str, now: datetime) -> int:
        res = await self.jobs.update_many(
            {"key": _prefix(key_prefix), "status": _OPEN},
            {"$set": {"status": "cancelled", "done_at": utc_ms(now), "lease_until": None}},
        )
        return int(res.modified_count)

    async def get(self, key: str) -> Job | None:
        doc = await self.jobs.find_one({"key": key})
        return None if doc is None else _job(doc)

    async def get_by_id(self, job_id: str) -> Job | None:
        doc = await self.jobs.find_one({"_id": job_id})
        return None if doc is None else _job(doc)

    @staticmethod
    def _filter(status: JobStatus | None, kind: str | None, key_prefix: str | None = None) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if status is not None:
            query["status"] = status
        if kind is not None:
            query["kind"] = kind
        if key_prefix is not None:
            query["key"] = _prefix(key_prefix)
        return query

    async def list_jobs(
        self, status: JobStatus | None = None, kind: str | None = None, key_prefix: str | None = None,
        limit: int = 100, offset: int = 0,
    ) -> list[Job]:
        docs = await self.jobs.find(self._filter(status, kind, key_prefix)).sort(CLAIM_SORT).skip(
            offset
        ).limit(limit).to_list(limit)
        return [_job(d) for d in docs]

    async def count(self, status: JobStatus | None = None, kind: str | None = None) -> int:
        return int(await self.jobs.count_documents(self._filter(status, kind)))

    async def purge(self, before: datetime) -> int:
        res = await self.jobs.delete_many({"status": {"$in": list(FINISHED)}, "done_at": {"$lt": utc_ms(before)}})
        return int(res.deleted_count)
