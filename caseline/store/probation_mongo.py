"""MongoDB adapter of the probation store (PyMongo ``AsyncDatabase`` or the test suite's fake).

Each once-only transition is a single conditional ``update_one`` whose ``modified_count``
says whether this call made it, so no transaction (and no replica set) is needed; unique
indexes make window and message inserts idempotent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError, PyMongoError

from caseline.store.base import StoreUnavailable
from caseline.store.jobs_base import utc_ms
from casework.probation.model import (
    ANSWER_FIELDS,
    CheckinWindow,
    Enrolment,
    EnrolmentCode,
    EnrolmentStatus,
    OfficerMessage,
    ScheduleSpec,
)
from casework.probation.ports import ProbationStore


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _req(value: datetime) -> datetime:
    found = _aware(value)
    assert found is not None
    return found


def _enrolment(d: dict[str, Any]) -> Enrolment:
    return Enrolment(
        d["_id"], d["alias"], d["officer"], d["team"], ScheduleSpec.from_json(d["schedule"]),
        int(d["window_minutes"]), d["question_set"], d["status"], _req(d["created_at"]), d.get("contact_id"),
        d.get("channel"), _aware(d.get("linked_at")), d.get("lang"), int(d.get("revision", 0)),
    )


def _window(d: dict[str, Any]) -> CheckinWindow:
    return CheckinWindow(
        d["enrolment_id"], d["occ_key"], _req(d["opens_at"]), _req(d["closes_at"]), d["status"], d.get("mood"),
        d.get("attendance"), d.get("note"), d.get("needs_talk"), _aware(d.get("checked_in_at")),
        bool(d.get("alerted")),
    )


class MongoProbationStore(ProbationStore):
    def __init__(self, db: Any) -> None:
        self.enrolments = db["probation_enrolments"]
        self.codes = db["probation_codes"]
        self.windows_ = db["probation_windows"]
        self.messages_ = db["probation_messages"]

    async def open(self) -> None:
        try:
            await self.enrolments.create_index([("officer", ASCENDING), ("created_at", DESCENDING)])
            await self.enrolments.create_index([("contact_id", ASCENDING), ("linked_at", DESCENDING)])
            await self.codes.create_index("enrolment_id")
            await self.windows_.create_index(
                [("enrolment_id", ASCENDING), ("occ_key", ASCENDING)], unique=True, name="window_key"
            )
            await self.windows_.create_index([("enrolment_id", ASCENDING), ("opens_at", ASCENDING)])
            await self.messages_.create_index([("enrolment_id", ASCENDING), ("at", DESCENDING)])
        except PyMongoError as exc:
            raise StoreUnavailable(f"cannot prepare MongoDB probation collections: {exc}") from exc

    async def add_enrolment(self, enrolment: Enrolment) -> None:
        e = enrolment
        await self.enrolments.insert_one({
            "_id": e.id, "alias": e.alias, "officer": e.officer, "team": e.team, "schedule": e.schedule.to_json(),
            "window_minutes": e.window_minutes, "question_set": e.question_set, "status": e.status,
            "created_at": utc_ms(e.created_at), "contact_id": e.contact_id, "channel": e.channel,
            "linked_at": utc_ms(e.linked_at) if e.linked_at else None, "lang": e.lang, "revision": e.revision,
        })

    async def save_enrolment(self, enrolment: Enrolment) -> None:
        e = enrolment
        await self.enrolments.update_one({"_id": e.id}, {"$set": {
            "alias": e.alias, "schedule": e.schedule.to_json(), "window_minutes": e.window_minutes,
            "question_set": e.question_set, "status": e.status, "revision": e.revision,
        }})

    async def get_enrolment(self, enrolment_id: str) -> Enrolment | None:
        doc = await self.enrolments.find_one({"_id": enrolment_id})
        return None if doc is None else _enrolment(doc)

    async def list_enrolments(
        self, officer: str | None = None, statuses: Sequence[EnrolmentStatus] | None = None
    ) -> list[Enrolment]:
        query: dict[str, Any] = {}
        if officer is not None:
            query["officer"] = officer
        if statuses is not None:
            query["status"] = {"$in": list(statuses)}
        docs = await self.enrolments.find(query).sort([("created_at", DESCENDING), ("_id", ASCENDING)]).to_list()
        return [_enrolment(d) for d in docs]

    async def link(self, enrolment_id: str, contact_id: str, channel: str, lang: str, now: datetime) -> bool:
        doc = await self.enrolments.find_one({"_id": enrolment_id})
        if doc is None or doc["status"] == "ended" or doc.get("contact_id") not in (None, contact_id):
            return False
        result = await self.enrolments.update_one(
            {"_id": enrolment_id, "status": {"$ne": "ended"}, "contact_id": {"$in": [None, contact_id]}},
            {"$set": {
                "contact_id": contact_id, "channel": channel, "lang": lang,
                "linked_at": doc.get("linked_at") or utc_ms(now),
                "status": "active" if doc["status"] == "pending" else doc["status"],
            }},
        )
        return int(result.matched_count) == 1

    async def enrolment_for_contact(self, contact_id: str) -> Enrolment | None:
        docs = await self.enrolments.find(
            {"contact_id": contact_id, "status": {"$in": ["active", "paused"]}}
        ).sort([("linked_at", DESCENDING), ("_id", ASCENDING)]).limit(1).to_list()
        return _enrolment(docs[0]) if docs else None

    async def add_code(self, code: EnrolmentCode) -> None:
        await self.codes.insert_one({
            "_id": code.code, "enrolment_id": code.enrolment_id, "expires_at": utc_ms(code.expires_at),
            "used_by": None, "used_at": None,
        })

    async def redeem_code(self, code: str, contact_id: str, now: datetime) -> str | None:
        now = utc_ms(now)
        await self.codes.update_one(
            {"_id": code, "used_by": None, "expires_at": {"$gt": now}},
            {"$set": {"used_by": contact_id, "used_at": now}},
        )
        doc = await self.codes.find_one({"_id": code, "used_by": contact_id})
        return None if doc is None else str(doc["enrolment_id"])

    async def codes_for(self, enrolment_id: str) -> list[EnrolmentCode]:
        docs = await self.codes.find({"enrolment_id": enrolment_id}).sort("expires_at", ASCENDING).to_list()
        return [EnrolmentCode(d["_id"], d["enrolment_id"], _req(d["expires_at"]), d.get("used_by"),
                              _aware(d.get("used_at"))) for d in docs]

    async def open_window(self, window: CheckinWindow) -> CheckinWindow:
        w = window
        with contextlib.suppress(DuplicateKeyError):  # the window exists: keep it as it is
            await self.windows_.insert_one({
                "_id": f"{w.enrolment_id}:{w.occ_key}", "enrolment_id": w.enrolment_id, "occ_key": w.occ_key,
                "opens_at": utc_ms(w.opens_at), "closes_at": utc_ms(w.closes_at), "status": w.status,
                "mood": None, "attendance": None, "note": None, "needs_talk": None, "checked_in_at": None,
                "alerted": False,
            })
        found = await self.get_window(w.enrolment_id, w.occ_key)
        assert found is not None
        return found

    async def get_window(self, enrolment_id: str, occ_key: str) -> CheckinWindow | None:
        doc = await self.windows_.find_one({"enrolment_id": enrolment_id, "occ_key": occ_key})
        return None if doc is None else _window(doc)

    async def window_at(self, enrolment_id: str, now: datetime) -> CheckinWindow | None:
        now = utc_ms(now)
        docs = await self.windows_.find(
            {"enrolment_id": enrolment_id, "opens_at": {"$lte": now}, "closes_at": {"$gt": now}}
        ).sort("opens_at", DESCENDING).limit(1).to_list()
        return _window(docs[0]) if docs else None

    async def windows(self, enrolment_id: str, limit: int = 1000) -> list[CheckinWindow]:
        docs = await self.windows_.find({"enrolment_id": enrolment_id}).sort("opens_at", DESCENDING).limit(
            limit).to_list()
        return [_window(d) for d in reversed(docs)]

    async def record_answer(self, enrolment_id: str, occ_key: str, field: str, value: str, now: datetime) -> bool:
        column = ANSWER_FIELDS.get(field, field)
        if column not in ANSWER_FIELDS.values():
            raise ValueError(f"unknown check-in answer {field!r}")
        key = {"enrolment_id": enrolment_id, "occ_key": occ_key}
        doc = await self.windows_.find_one(key)
        if doc is None:
            return False
        changes: dict[str, Any] = {column: value}
        if doc.get("checked_in_at") is None:
            changes["checked_in_at"] = utc_ms(now)
        await self.windows_.update_one(key, {"$set": changes})
        await self.windows_.update_one({**key, "status": "open"}, {"$set": {"status": "checked_in"}})
        return True

    async def mark_missed(self, enrolment_id: str, occ_key: str) -> bool:
        result = await self.windows_.update_one(
            {"enrolment_id": enrolment_id, "occ_key": occ_key, "status": "open"}, {"$set": {"status": "missed"}}
        )
        return int(result.modified_count) == 1

    async def mark_alerted(self, enrolment_id: str, occ_key: str) -> bool:
        result = await self.windows_.update_one(
            {"enrolment_id": enrolment_id, "occ_key": occ_key, "alerted": False}, {"$set": {"alerted": True}}
        )
        return int(result.modified_count) == 1

    async def add_message(self, message: OfficerMessage) -> bool:
        m = message
        try:
            await self.messages_.insert_one({
                "_id": m.id, "enrolment_id": m.enrolment_id, "kind": m.kind, "text": m.text, "at": utc_ms(m.at),
                "occ_key": m.occ_key,
            })
        except DuplicateKeyError:
            return False
        return True

    async def messages(self, enrolment_id: str, limit: int = 200) -> list[OfficerMessage]:
        docs = await self.messages_.find({"enrolment_id": enrolment_id}).sort(
            [("at", DESCENDING), ("_id", ASCENDING)]).limit(limit).to_list()
        return [OfficerMessage(d["_id"], d["enrolment_id"], d["kind"], d["text"], _req(d["at"]), d.get("occ_key"))
                for d in docs]
