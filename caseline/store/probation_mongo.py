"""MongoDB adapter of the probation store (PyMongo ``AsyncDatabase`` or the test suite's fake).

Each once-only transition is a single conditional ``update_one`` whose ``modified_count``
says whether this call made it, so no transaction (and no replica set) is needed; unique
indexes make window and message inserts idempotent.

With a :class:`~caseline.crypto.FieldCipher`, check-in answers and the young person's
messages are sealed under their contact's data key (``contact_keys``), and erasure keeps
only the officer's compliance facts; :mod:`caseline.store.probation_sqlite` says why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError, PyMongoError

from caseline.crypto import PROBATION_MESSAGE, DataKey, FieldCipher, is_sealed, probation_answer
from caseline.store.base import StoreError, StoreUnavailable
from caseline.store.jobs_base import utc_ms
from caseline.store.mongo import contact_key
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


ANSWER_COLUMNS = tuple(ANSWER_FIELDS.values())
ERASED = "erased"  # stands in for the contact in a code they used, so the code stays spent
_NOT_SEALED = {"$regex": r"^(?!e1\.)"}  # a sealed value always starts with the prefix


def _answered(d: dict[str, Any]) -> bool:
    return any(d.get(column) is not None for column in ANSWER_COLUMNS)


def _window(d: dict[str, Any], key: DataKey | None = None, cid: str = "") -> CheckinWindow:
    mood, attendance, note, needs_talk = (
        None if d.get(column) is None else FieldCipher.open(key, cid, probation_answer(column), str(d[column]))
        for column in ANSWER_COLUMNS
    )
    return CheckinWindow(
        d["enrolment_id"], d["occ_key"], _req(d["opens_at"]), _req(d["closes_at"]), d["status"], mood,
        attendance, note, needs_talk, _aware(d.get("checked_in_at")), bool(d.get("alerted")),
    )


class MongoProbationStore(ProbationStore):
    """``cipher`` seals what the young person said (None: plain)."""

    def __init__(self, db: Any, cipher: FieldCipher | None = None) -> None:
        self.db = db
        self.cipher = cipher
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

    async def _owner(self, enrolment_id: str) -> str | None:
        """The contact whose data key seals this enrolment's answers and messages."""
        doc = await self.enrolments.find_one({"_id": enrolment_id}, {"contact_id": 1})
        return None if doc is None or doc.get("contact_id") is None else str(doc["contact_id"])

    async def _sealing_key(self, enrolment_id: str) -> DataKey | None:
        if self.cipher is None:
            return None
        owner = await self._owner(enrolment_id)
        if owner is None:
            raise StoreError(f"enrolment {enrolment_id} is not linked to a contact; refusing to store plain text")
        return await contact_key(self.db, self.cipher, owner, create=True)

    async def _opening_key(self, enrolment_id: str) -> tuple[DataKey | None, str]:
        owner = await self._owner(enrolment_id) if self.cipher is not None else None
        if owner is None:
            return None, enrolment_id
        return await contact_key(self.db, self.cipher, owner), owner

    async def _windows(self, docs: list[dict[str, Any]]) -> list[CheckinWindow]:
        keys: dict[str, tuple[DataKey | None, str]] = {}
        out = []
        for d in docs:
            eid = str(d["enrolment_id"])
            if not _answered(d):
                out.append(_window(d))
                continue
            if eid not in keys:
                keys[eid] = await self._opening_key(eid)
            out.append(_window(d, *keys[eid]))
        return out

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
        return None if doc is None else (await self._windows([doc]))[0]

    async def window_at(self, enrolment_id: str, now: datetime) -> CheckinWindow | None:
        now = utc_ms(now)
        docs = await self.windows_.find(
            {"enrolment_id": enrolment_id, "opens_at": {"$lte": now}, "closes_at": {"$gt": now}}
        ).sort("opens_at", DESCENDING).limit(1).to_list()
        return (await self._windows(docs))[0] if docs else None

    async def windows(self, enrolment_id: str, limit: int = 1000) -> list[CheckinWindow]:
        docs = await self.windows_.find({"enrolment_id": enrolment_id}).sort("opens_at", DESCENDING).limit(
            limit).to_list()
        return await self._windows(list(reversed(docs)))

    async def record_answer(self, enrolment_id: str, occ_key: str, field: str, value: str, now: datetime) -> bool:
        column = ANSWER_FIELDS.get(field, field)
        if column not in ANSWER_FIELDS.values():
            raise ValueError(f"unknown check-in answer {field!r}")
        key = {"enrolment_id": enrolment_id, "occ_key": occ_key}
        doc = await self.windows_.find_one(key)
        if doc is None:
            return False
        sealed = FieldCipher.seal(await self._sealing_key(enrolment_id), probation_answer(column), value)
        changes: dict[str, Any] = {column: sealed}
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
        if await self.messages_.find_one({"_id": m.id}, {"_id": 1}) is not None:
            return False
        text = FieldCipher.seal(await self._sealing_key(m.enrolment_id), PROBATION_MESSAGE, m.text)
        try:
            await self.messages_.insert_one({
                "_id": m.id, "enrolment_id": m.enrolment_id, "kind": m.kind, "text": text, "at": utc_ms(m.at),
                "occ_key": m.occ_key,
            })
        except DuplicateKeyError:
            return False
        return True

    async def messages(self, enrolment_id: str, limit: int = 200) -> list[OfficerMessage]:
        docs = await self.messages_.find({"enrolment_id": enrolment_id}).sort(
            [("at", DESCENDING), ("_id", ASCENDING)]).limit(limit).to_list()
        key, owner = await self._opening_key(enrolment_id) if docs else (None, enrolment_id)
        return [OfficerMessage(d["_id"], d["enrolment_id"], d["kind"],
                               FieldCipher.open(key, owner, PROBATION_MESSAGE, str(d["text"])), _req(d["at"]),
                               d.get("occ_key")) for d in docs]

    # -- privacy -----------------------------------------------------------------------------
    async def erase_contact_data(self, contact_id: str, *, dry_run: bool = False) -> dict[str, int]:
        ids = [str(d["_id"]) for d in await self.enrolments.find({"contact_id": contact_id}, {"_id": 1}).to_list()]
        mine = {"enrolment_id": {"$in": ids}}
        answered = {**mine, "$or": [{column: {"$ne": None}} for column in ANSWER_COLUMNS]}
        counts = {
            "probation_enrolments": len(ids),
            "probation_answers": int(await self.windows_.count_documents(answered)) if ids else 0,
            "probation_messages": int(await self.messages_.count_documents(mine)) if ids else 0,
        }
        if dry_run:
            return counts
        # Content first, the link last: an interrupted erasure is found again by contact id and finished.
        if ids:
            await self.windows_.update_many(mine, {"$set": dict.fromkeys(ANSWER_COLUMNS)})
            await self.messages_.delete_many(mine)
        await self.codes.update_many({"used_by": contact_id}, {"$set": {"used_by": ERASED}})
        await self.enrolments.update_many(
            {"contact_id": contact_id, "status": {"$in": ["active", "paused"]}}, {"$set": {"status": "pending"}}
        )
        await self.enrolments.update_many(
            {"contact_id": contact_id},
            {"$set": {"contact_id": None, "channel": None, "lang": None, "linked_at": None}, "$inc": {"revision": 1}},
        )
        return counts

    async def seal_plain(self, limit: int = 500) -> int:
        """Seal up to ``limit`` answers and messages written before encryption was on; how many.

        Resumable: the next call finds what is still plain. A value is rewritten only if it
        did not change meanwhile, so a fresh answer is never overwritten by a stale one.
        """
        if self.cipher is None:
            return 0
        owners = {str(d["_id"]): str(d["contact_id"]) for d in await self.enrolments.find(
            {"contact_id": {"$ne": None}}, {"contact_id": 1}).to_list()}
        linked = {"enrolment_id": {"$in": list(owners)}}
        windows = await self.windows_.find(
            {**linked, "$or": [{column: _NOT_SEALED} for column in ANSWER_COLUMNS]}
        ).sort("_id", ASCENDING).limit(limit).to_list()
        messages = await self.messages_.find({**linked, "text": _NOT_SEALED}).sort("_id", ASCENDING).limit(
            limit).to_list()
        for d in windows:
            key = await contact_key(self.db, self.cipher, owners[str(d["enrolment_id"])], create=True)
            plain = {c: d[c] for c in ANSWER_COLUMNS if d.get(c) is not None and not is_sealed(d[c])}
            sealed = {c: FieldCipher.seal(key, probation_answer(c), str(v)) for c, v in plain.items()}
            await self.windows_.update_one({"_id": d["_id"], **plain}, {"$set": sealed})
        for d in messages:
            key = await contact_key(self.db, self.cipher, owners[str(d["enrolment_id"])], create=True)
            await self.messages_.update_one(
                {"_id": d["_id"], "text": d["text"]},
                {"$set": {"text": FieldCipher.seal(key, PROBATION_MESSAGE, str(d["text"]))}},
            )
        return len(windows) + len(messages)
