"""MongoDB adapter of the casework store port (PyMongo ``AsyncDatabase`` or the test fake).

Every decision is one single-document conditional write, so no transaction (and no
replica set) is needed: a claim is ``find_one_and_update`` on a waiting case sorted by
severity then age; one open case per contact is a unique index partial on
``{open: true}``; an alert is sent once because its key is inserted first.

With a :class:`~caseline.crypto.FieldCipher`, each note's and referral's ``text`` and the
``outcome`` are stored sealed under the contact's data key (``contact_keys``, shared with
the conversation store), for the reasons given in :mod:`caseline.store.cases_sqlite`. A note
is sealed on its own before ``$push``, so appending stays one atomic update.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from caseline.crypto import CASE_NOTE, CASE_OUTCOME, CASE_REFERRAL, DataKey, FieldCipher, is_sealed
from caseline.store.mongo import contact_key
from casework.model import (
    HANDLED,
    SEVERITIES,
    AuditEntry,
    AuditQuery,
    Case,
    NewCase,
    Note,
    Session,
    Status,
    Trigger,
    User,
    severity_rank,
)
from casework.ports import CaseStore, TotpRecord, UserExists

QUEUE_SORT = [("sev", DESCENDING), ("opened_at", ASCENDING)]
# Matches a string that is not sealed (yet): a sealed one always starts with the prefix.
_NOT_SEALED = {"$regex": r"^(?!e1\.)"}
_PLAIN = {"$or": [{"outcome": _NOT_SEALED}, {"notes.text": _NOT_SEALED}, {"referrals.text": _NOT_SEALED}]}
_USER_FIELDS = {"disabled", "password_hash", "failed_logins", "locked_until", "last_seen_at", "role", "teams"}


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _open_notes(items: Sequence[dict[str, Any]], key: DataKey | None, cid: str, field: str) -> tuple[Note, ...]:
    notes = (Note.from_json(n) for n in items)
    return tuple(replace(n, text=FieldCipher.open(key, cid, field, n.text)) for n in notes)


def _sealed_item(item: dict[str, Any], key: DataKey | None, field: str) -> dict[str, Any]:
    text = item.get("text")
    return item if is_sealed(text) else {**item, "text": FieldCipher.seal(key, field, str(text or ""))}


def _has_text(d: dict[str, Any]) -> bool:
    return d.get("outcome") is not None or bool(d.get("notes")) or bool(d.get("referrals"))


def _case(d: dict[str, Any], key: DataKey | None = None) -> Case:
    opened = _aware(d["opened_at"])
    assert opened is not None
    cid = str(d["contact_id"])
    outcome = d.get("outcome")
    return Case(
        id=str(d["_id"]),
        contact_id=cid,
        channel=str(d["channel"]),
        team=str(d["team"]),
        severity=SEVERITIES[int(d["sev"])],
        categories=tuple(d.get("categories", ())),
        status=d["status"],
        reason=str(d.get("reason", "")),
        lang=str(d.get("lang", "en")),
        country=d.get("country"),
        opened_at=opened,
        sla_due=_aware(d.get("sla_due")),
        assignee=d.get("assignee"),
        claimed_at=_aware(d.get("claimed_at")),
        first_response_at=_aware(d.get("first_response_at")),
        resolved_at=_aware(d.get("resolved_at")),
        lease_until=_aware(d.get("lease_until")),
        outcome=None if outcome is None else FieldCipher.open(key, cid, CASE_OUTCOME, str(outcome)),
        triggers=tuple(Trigger.from_json(t) for t in d.get("triggers", ())),
        notes=_open_notes(d.get("notes", ()), key, cid, CASE_NOTE),
        referrals=_open_notes(d.get("referrals", ()), key, cid, CASE_REFERRAL),
    )


def _user(d: dict[str, Any]) -> User:
    return User(
        username=str(d["_id"]),
        role=str(d["role"]),
        teams=tuple(d.get("teams", ())),
        password_hash=str(d["password_hash"]),
        disabled=bool(d.get("disabled", False)),
        failed_logins=int(d.get("failed_logins", 0)),
        locked_until=_aware(d.get("locked_until")),
        last_seen_at=_aware(d.get("last_seen_at")),
        created_at=_aware(d.get("created_at")),
    )


class MongoCaseStore(CaseStore):
    """``cipher`` seals the free text (None: plain)."""

    def __init__(self, db: Any, cipher: FieldCipher | None = None) -> None:
        self.db = db
        self.cipher = cipher

    async def _key(self, contact_id: str, create: bool = False) -> DataKey | None:
        return await contact_key(self.db, self.cipher, contact_id, create)

    async def _case(self, doc: dict[str, Any] | None) -> Case | None:
        if doc is None:
            return None
        key = await self._key(str(doc["contact_id"])) if self.cipher is not None and _has_text(doc) else None
        return _case(doc, key)

    async def open(self) -> None:
        await self.db.cases.create_index(
            [("team", ASCENDING), ("status", ASCENDING), ("sev", DESCENDING), ("opened_at", ASCENDING)],
            name="queue_order",
        )
        await self.db.cases.create_index(
            "contact_id", unique=True, partialFilterExpression={"open": True}, name="one_open_case"
        )
        await self.db.cases.create_index([("status", ASCENDING), ("lease_until", ASCENDING)], name="sweeper")
        await self.db.cases.create_index([("assignee", ASCENDING), ("status", ASCENDING)], name="assignee")
        # Validity is checked against the app clock; the TTL only purges long-dead sessions.
        await self.db.case_sessions.create_index("expires_at", expireAfterSeconds=86400)
        await self.db.case_sessions.create_index("username")
        await self.db.audit.create_index([("actor", ASCENDING), ("_id", DESCENDING)])

    async def escalate(self, new: NewCase, trigger: Trigger) -> tuple[Case, bool]:
        for _attempt in range(5):
            if await self.db.cases.find_one({"contact_id": new.contact_id, "open": True}, {"_id": 1}) is None:
                doc = {
                    "_id": new.id,
                    "contact_id": new.contact_id,
                    "channel": new.channel,
                    "team": new.team,
                    "sev": severity_rank(new.severity),
                    "categories": list(new.categories),
                    "status": "waiting",
                    "open": True,
                    "reason": new.reason,
                    "lang": new.lang,
                    "country": new.country,
                    "opened_at": new.opened_at,
                    "sla_due": new.sla_due,
                    "triggers": [trigger.to_json()],
                    "notes": [],
                    "referrals": [],
                }
                try:
                    await self.db.cases.insert_one(doc)
                except DuplicateKeyError:
                    continue
                return _case(doc), True  # a new case has no text to open yet
            query: dict[str, Any] = {"contact_id": new.contact_id, "open": True}
            if trigger.inbound_seq is not None:
                query["triggers.inbound_seq"] = {"$ne": trigger.inbound_seq}
            updated = await self.db.cases.find_one_and_update(
                query,
                {
                    "$max": {"sev": severity_rank(new.severity)},
                    "$push": {"triggers": trigger.to_json()},
                    "$addToSet": {"categories": {"$each": list(new.categories)}},
                },
                return_document=ReturnDocument.AFTER,
            )
            found = updated or await self.db.cases.find_one({"contact_id": new.contact_id, "open": True})
            case = await self._case(found)
            if case is not None:
                return case, False
        raise RuntimeError("could not open or update the contact's case")

    async def set_sla_due(self, case_id: str, due: datetime | None) -> None:
        await self.db.cases.update_one({"_id": case_id}, {"$set": {"sla_due": due}})

    async def get(self, case_id: str) -> Case | None:
        return await self._case(await self.db.cases.find_one({"_id": case_id}))

    async def handling_case(self, contact_id: str) -> str | None:
        doc = await self.db.cases.find_one({"contact_id": contact_id, "open": True}, {"status": 1})
        return str(doc["_id"]) if doc is not None and doc["status"] in HANDLED else None

    async def open_case(self, contact_id: str) -> str | None:
        doc = await self.db.cases.find_one({"contact_id": contact_id, "open": True}, {"_id": 1})
        return None if doc is None else str(doc["_id"])

    async def list_cases(
        self,
        teams: Sequence[str] | None,
        statuses: Sequence[str] | None = None,
        since: datetime | None = None,
        limit: int = 500,
    ) -> list[Case]:
        query: dict[str, Any] = {}
        if teams is not None:
            query["team"] = {"$in": list(teams)}
        if statuses:
            query["status"] = {"$in": list(statuses)}
        if since is not None:
            query["opened_at"] = {"$gte": since}
        docs = await self.db.cases.find(query).sort(QUEUE_SORT).limit(limit).to_list(limit)
        return [case for d in docs if (case := await self._case(d)) is not None]

    def _claim_update(self, worker: str, now: datetime, lease_until: datetime) -> dict[str, Any]:
        return {
            "$set": {"status": "claimed", "assignee": worker, "lease_until": lease_until},
            "$min": {"claimed_at": now},
        }

    async def claim(self, case_id: str, worker: str, now: datetime, lease_until: datetime) -> Case | None:
        doc = await self.db.cases.find_one_and_update(
            {"_id": case_id, "$or": [{"status": "waiting"}, {"open": True, "lease_until": {"$lt": now}}]},
            self._claim_update(worker, now, lease_until),
            return_document=ReturnDocument.AFTER,
        )
        return await self._case(doc)

    async def claim_next(
        self, teams: Sequence[str], worker: str, now: datetime, lease_until: datetime
    ) -> Case | None:
        doc = await self.db.cases.find_one_and_update(
            {"team": {"$in": list(teams)}, "status": "waiting"},
            self._claim_update(worker, now, lease_until),
            sort=QUEUE_SORT,
            return_document=ReturnDocument.AFTER,
        )
        return await self._case(doc)

    async def renew_leases(self, worker: str, lease_until: datetime) -> int:
        result = await self.db.cases.update_many(
            {"assignee": worker, "status": {"$in": list(HANDLED)}}, {"$set": {"lease_until": lease_until}}
        )
        return int(result.modified_count)

    async def release_lapsed(self, now: datetime) -> list[str]:
        lapsed = {"status": {"$in": list(HANDLED)}, "lease_until": {"$lt": now}}
        docs = await self.db.cases.find(lapsed, {"_id": 1}).to_list(None)
        released = []
        for doc in docs:
            result = await self.db.cases.update_one(
                {"_id": doc["_id"], **lapsed},
                {"$set": {"status": "waiting", "assignee": None, "lease_until": None}},
            )
            if result.modified_count:
                released.append(str(doc["_id"]))
        return released

    async def set_status(self, case_id: str, status: Status, *, only_from: Sequence[str] = ()) -> bool:
        allowed = list(only_from) or ["waiting", "claimed", "awaiting_user"]
        result = await self.db.cases.update_one(
            {"_id": case_id, "status": {"$in": allowed}}, {"$set": {"status": status}}
        )
        return bool(result.modified_count)

    async def record_reply(self, case_id: str, worker: str, now: datetime) -> bool:
        result = await self.db.cases.update_one(
            {"_id": case_id, "assignee": worker, "status": {"$in": list(HANDLED)}},
            {"$set": {"status": "awaiting_user"}, "$min": {"first_response_at": now}},
        )
        return bool(result.matched_count)

    async def add_note(self, case_id: str, note: Note) -> bool:
        column, field = ("referrals", CASE_REFERRAL) if note.kind == "referral" else ("notes", CASE_NOTE)
        found = await self.db.cases.find_one({"_id": case_id}, {"contact_id": 1})
        if found is None:
            return False
        key = await self._key(str(found["contact_id"]), create=True)
        item = {**note.to_json(), "text": FieldCipher.seal(key, field, note.text)}
        result = await self.db.cases.update_one({"_id": case_id}, {"$push": {column: item}})
        return bool(result.matched_count)

    async def transfer(
        self,
        case_id: str,
        *,
        to_user: str | None,
        to_team: str | None,
        now: datetime,
        lease_until: datetime,
    ) -> Case | None:
        if to_team is not None:
            update: dict[str, Any] = {
                "$set": {"team": to_team, "status": "waiting", "assignee": None, "lease_until": None}
            }
        else:
            update = {
                "$set": {"assignee": to_user, "status": "claimed", "lease_until": lease_until},
                "$min": {"claimed_at": now},
            }
        doc = await self.db.cases.find_one_and_update(
            {"_id": case_id, "open": True}, update, return_document=ReturnDocument.AFTER
        )
        return await self._case(doc)

    async def resolve(self, case_id: str, outcome: str, now: datetime) -> Case | None:
        found = await self.db.cases.find_one({"_id": case_id, "open": True}, {"contact_id": 1})
        if found is None:
            return None
        key = await self._key(str(found["contact_id"]), create=True)
        doc = await self.db.cases.find_one_and_update(
            {"_id": case_id, "open": True},
            {
                "$set": {"status": "resolved", "outcome": FieldCipher.seal(key, CASE_OUTCOME, outcome),
                         "resolved_at": now, "lease_until": None},
                "$unset": {"open": ""},
            },
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else _case(doc, key)

    async def seal_plain(self, limit: int = 500) -> int:
        """Seal up to ``limit`` cases' free text written before encryption was on; how many.

        Resumable: the next call finds what is still plain. Each case is rewritten only if
        its text did not change meanwhile (a note pushed since is sealed by the next batch,
        never overwritten). Contacts without a data key get one.
        """
        if self.cipher is None:
            return 0
        fields = {"contact_id": 1, "outcome": 1, "notes": 1, "referrals": 1}
        docs = await self.db.cases.find(_PLAIN, fields).sort("_id", ASCENDING).limit(limit).to_list(limit)
        for doc in docs:
            key = await self._key(str(doc["contact_id"]), create=True)
            changes: dict[str, Any] = {}
            outcome = doc.get("outcome")
            if outcome is not None and not is_sealed(outcome):
                changes["outcome"] = FieldCipher.seal(key, CASE_OUTCOME, str(outcome))
            for column, field in (("notes", CASE_NOTE), ("referrals", CASE_REFERRAL)):
                items = doc.get(column) or []
                if any(not is_sealed(i.get("text")) for i in items):
                    changes[column] = [_sealed_item(i, key, field) for i in items]
            unchanged: dict[str, Any] = {"_id": doc["_id"]}
            unchanged.update({k: doc.get(k) for k in changes})
            await self.db.cases.update_one(unchanged, {"$set": changes})
        return len(docs)

    async def claim_alert(self, case_id: str, kind: str, notifier: str, now: datetime) -> bool:
        try:
            await self.db.case_alerts.insert_one(
                {
                    "_id": f"{case_id}|{kind}|{notifier}",
                    "case_id": case_id,
                    "kind": kind,
                    "notifier": notifier,
                    "at": now,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def release_alert(self, case_id: str, kind: str, notifier: str) -> None:
        await self.db.case_alerts.delete_one({"_id": f"{case_id}|{kind}|{notifier}"})

    async def alerts(self, case_id: str) -> list[tuple[str, str]]:
        docs = await self.db.case_alerts.find({"case_id": case_id}).to_list(None)
        return sorted((str(d["kind"]), str(d["notifier"])) for d in docs)

    async def add_user(self, user: User) -> None:
        try:
            await self.db.case_users.insert_one(
                {
                    "_id": user.username,
                    "role": user.role,
                    "teams": list(user.teams),
                    "password_hash": user.password_hash,
                    "disabled": user.disabled,
                    "failed_logins": 0,
                    "locked_until": None,
                    "last_seen_at": None,
                    "created_at": user.created_at,
                }
            )
        except DuplicateKeyError as exc:
            raise UserExists(user.username) from exc

    async def get_user(self, username: str) -> User | None:
        doc = await self.db.case_users.find_one({"_id": username})
        return None if doc is None else _user(doc)

    async def list_users(self) -> list[User]:
        return [_user(d) for d in await self.db.case_users.find({}).sort("_id", ASCENDING).to_list(None)]

    async def update_user(self, username: str, **fields: object) -> bool:
        unknown = set(fields) - _USER_FIELDS
        if unknown:
            raise ValueError(f"unknown user fields: {sorted(unknown)}")
        values = {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}
        result = await self.db.case_users.update_one({"_id": username}, {"$set": values})
        return bool(result.matched_count)

    async def failed_login(
        self, username: str, now: datetime, max_failures: int, lock_until: datetime
    ) -> None:
        await self.db.case_users.update_one({"_id": username}, {"$inc": {"failed_logins": 1}})
        await self.db.case_users.update_one(
            {"_id": username, "failed_logins": {"$gte": max_failures}},
            {"$set": {"locked_until": lock_until, "failed_logins": 0}},
        )

    async def active_workers(self, team: str, since: datetime) -> int:
        return int(
            await self.db.case_users.count_documents(
                {
                    "disabled": False,
                    "role": {"$in": ["case_worker", "supervisor"]},
                    "teams": team,
                    "last_seen_at": {"$gte": since},
                }
            )
        )

    async def add_session(self, session: Session) -> None:
        await self.db.case_sessions.insert_one(
            {
                "_id": session.token_hash,
                "username": session.username,
                "csrf": session.csrf,
                "kind": session.kind,
                "created_at": session.created_at,
                "expires_at": session.expires_at,
            }
        )

    async def get_session(self, token_hash: str) -> Session | None:
        d = await self.db.case_sessions.find_one({"_id": token_hash})
        if d is None:
            return None
        created, expires = _aware(d["created_at"]), _aware(d["expires_at"])
        assert created is not None and expires is not None
        return Session(str(d["_id"]), str(d["username"]), str(d["csrf"]), d["kind"], created, expires)

    async def delete_sessions(self, *, token_hash: str | None = None, username: str | None = None) -> None:
        if token_hash is not None:
            await self.db.case_sessions.delete_one({"_id": token_hash})
        if username is not None:
            await self.db.case_sessions.delete_many({"username": username})

    async def touch_session(self, token_hash: str, now: datetime, idle_since: datetime) -> bool:
        result = await self.db.case_sessions.update_one(
            {
                "_id": token_hash,
                "$or": [
                    {"last_used_at": {"$gte": idle_since}},
                    {"last_used_at": None, "created_at": {"$gte": idle_since}},
                ],
            },
            {"$set": {"last_used_at": now}},
        )
        return bool(result.matched_count == 1)

    async def get_totp(self, username: str) -> TotpRecord | None:
        d = await self.db.case_totp.find_one({"_id": username})
        return None if d is None else TotpRecord(str(d["sealed"]), bool(d["confirmed"]), int(d["last_step"]))

    async def set_totp(self, username: str, sealed: str | None, confirmed: bool = False) -> None:
        if sealed is None:
            await self.db.case_totp.delete_one({"_id": username})
            return
        await self.db.case_totp.replace_one(
            {"_id": username}, {"sealed": sealed, "confirmed": confirmed, "last_step": 0}, upsert=True
        )

    async def use_totp_step(self, username: str, step: int, confirm: bool = False) -> bool:
        update: dict[str, Any] = {"last_step": step}
        if confirm:
            update["confirmed"] = True
        result = await self.db.case_totp.update_one(
            {"_id": username, "last_step": {"$lt": step}}, {"$set": update}
        )
        return bool(result.matched_count == 1)

    async def append_audit(self, entry: AuditEntry) -> None:
        counter = await self.db.counters.find_one_and_update(
            {"_id": "audit"}, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        await self.db.audit.insert_one(
            {
                "_id": int(counter["value"]),
                "at": entry.at,
                "actor": entry.actor,
                "action": entry.action,
                "target": entry.target,
                "outcome": entry.outcome,
                "detail": dict(entry.detail),
            }
        )

    async def query_audit(self, query: AuditQuery) -> list[AuditEntry]:
        q: dict[str, Any] = {
            name: getattr(query, name)
            for name in ("actor", "action", "target", "outcome")
            if getattr(query, name) is not None
        }
        if query.since is not None:
            q["at"] = {"$gte": query.since}
        docs = await self.db.audit.find(q).sort("_id", DESCENDING).limit(query.limit).to_list(query.limit)
        return [
            AuditEntry(
                _aware(d["at"]) or datetime.now(UTC),
                str(d["actor"]),
                str(d["action"]),
                str(d["target"]),
                d["outcome"],
                dict(d.get("detail", {})),
                int(d["_id"]),
            )
            for d in docs
        ]
