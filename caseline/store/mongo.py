"""MongoDB adapter on PyMongo's ``AsyncMongoClient`` (Motor is deprecated).

Every transition is a single-document operation so that no transaction (and so no
replica set) is required; a turn's writes are ordered to be idempotent instead:
outbox rows first (unique key), then the version-checked state, then the inbox mark.
A crash in between is repaired by re-running the turn, which writes nothing twice.

With a :class:`~caseline.crypto.FieldCipher`, the sensitive fields (inbound ``body``,
conversation ``platform_user_id`` and ``state``, outbox ``platform_user_id`` and ``reply``,
transcript ``text``) are stored as ``e1.`` strings sealed under the contact's data key.
Data keys are kept wrapped in the ``contact_keys`` collection (``_id`` = contact id): back
it up separately from the data, and keep its backups for a shorter time. Unwrapped keys
are cached per process for ``cache_ttl`` seconds, so the message path pays no extra round
trip; an erasure in another process is honoured here within that time.

Retention: TTL indexes expire processed inbound messages (``received_at``, 8 days) and
sent outbox rows (``sent_at``, 30 days). Conversations and their transcripts are removed
by :func:`caseline.retention.sweep` instead, because it must first ask the case store
whether the contact has an open case, which a TTL index cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError

from caseline.crypto import (
    CONV_STATE,
    CONV_USER,
    INBOUND_BODY,
    OUTBOX_REPLY,
    OUTBOX_USER,
    TRANSCRIPT_TEXT,
    UNREADABLE,
    DataKey,
    FieldCipher,
    WrappedKey,
)
from caseline.messages import Inbound, Reply
from caseline.store.base import (
    DELIVERY_ORDER,
    Conversation,
    ConversationStore,
    ErasureReport,
    InboundRecord,
    OutboxDraft,
    OutboxItem,
    OutboxStatus,
    StoreError,
    StoreUnavailable,
    TranscriptDraft,
    TranscriptEntry,
    TurnCommit,
    VersionConflict,
)

INBOUND_RETENTION = timedelta(days=8)
SENT_OUTBOX_RETENTION = timedelta(days=30)
CONTROL_STATE = ("case_id", "safety_mode", "opted_out", "erasure_requested")


def _aware(value: datetime) -> datetime:
    """BSON dates come back naive (UTC); make them comparable with aware datetimes."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _outbox_item(doc: dict[str, Any], key: DataKey | None) -> OutboxItem:
    cid = str(doc["contact_id"])
    reply = FieldCipher.open_json(key, cid, OUTBOX_REPLY, doc["reply"])
    return OutboxItem(
        id=int(doc["_id"]),
        key=str(doc["key"]),
        contact_id=cid,
        channel=str(doc["channel"]),
        platform_user_id=FieldCipher.open(key, cid, OUTBOX_USER, str(doc["platform_user_id"])),
        reply=Reply(UNREADABLE) if reply is None else Reply.from_json(reply),
        inbound_seq=doc.get("inbound_seq"),
        status=doc["status"],
        attempts=int(doc.get("attempts", 0)),
        next_attempt_at=_aware(doc["next_attempt_at"]),
        error=doc.get("error"),
        platform_message_id=doc.get("platform_message_id"),
        delivery=doc.get("delivery"),
    )


async def contact_key(db: Any, cipher: FieldCipher | None, contact_id: str, create: bool = False) -> DataKey | None:
    """The contact's data key: process cache, else ``contact_keys`` (created when writing).

    Shared by every store that seals contact fields on this database, so they all use the
    one key that erasure deletes.
    """
    if cipher is None:
        return None
    hit = cipher.cached(contact_id)
    if hit is not None:
        return hit
    doc = await db.contact_keys.find_one({"_id": contact_id})
    if doc is None and create:
        wrapped, key = cipher.new_key(contact_id)
        try:
            await db.contact_keys.insert_one({
                "_id": contact_id, "kid": wrapped.kid, "wrapped": wrapped.wrapped, "created_at": datetime.now(UTC),
            })
            return key
        except DuplicateKeyError:  # another process created it first: use theirs
            doc = await db.contact_keys.find_one({"_id": contact_id})
    found = None if doc is None else cipher.key(contact_id, WrappedKey(str(doc["kid"]), str(doc["wrapped"])))
    if found is None and create:
        raise StoreError(f"the data key of {contact_id} cannot be unwrapped; refusing to write")
    return found


class MongoConversationStore(ConversationStore):
    """``db`` is an ``AsyncDatabase`` (or the test suite's in-process fake of one)."""

    def __init__(
        self, db: Any, close: Any = None, cipher: FieldCipher | None = None,
        sent_outbox_retention: timedelta = SENT_OUTBOX_RETENTION,
    ) -> None:
        self.db = db
        self._close = close
        self.cipher = cipher
        self.sent_outbox_retention = sent_outbox_retention

    async def _key(self, contact_id: str, create: bool = False) -> DataKey | None:
        return await contact_key(self.db, self.cipher, contact_id, create)

    async def _items(self, docs: list[dict[str, Any]]) -> list[OutboxItem]:
        return [_outbox_item(d, await self._key(str(d["contact_id"]))) for d in docs]

    async def open(self) -> None:
        try:
            await self.db.inbound.create_index(
                [("channel", ASCENDING), ("platform_message_id", ASCENDING)], unique=True
            )
            await self.db.inbound.create_index([("contact_id", ASCENDING), ("status", ASCENDING), ("_id", ASCENDING)])
            await self.db.inbound.create_index(
                "received_at", expireAfterSeconds=int(INBOUND_RETENTION.total_seconds())
            )
            await self.db.outbox.create_index("key", unique=True)
            await self.db.outbox.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
            await self.db.outbox.create_index([("contact_id", ASCENDING), ("status", ASCENDING), ("_id", ASCENDING)])
            await self.db.outbox.create_index("inbound_seq")
            await self.db.outbox.create_index([("channel", ASCENDING), ("platform_message_id", ASCENDING)])
            await self.db.transcript.create_index([("contact_id", ASCENDING), ("_id", ASCENDING)])
            await self.db.conversations.create_index("updated_at")
            await self.db.contact_keys.create_index("kid")
            await self._ttl_index("outbox", "sent_at", self.sent_outbox_retention)
        except PyMongoError as exc:
            raise StoreUnavailable(f"cannot prepare MongoDB: {exc}") from exc

    async def _ttl_index(self, collection: str, field: str, after: timedelta) -> None:
        seconds = int(after.total_seconds())
        try:
            await self.db[collection].create_index(field, expireAfterSeconds=seconds)
        except OperationFailure:  # exists with another period: change it in place
            index = {"keyPattern": {field: 1}, "expireAfterSeconds": seconds}
            await self.db.command("collMod", collection, index=index)

    async def close(self) -> None:
        if self._close is not None:
            await self._close()

    async def ping(self) -> bool:
        try:
            await self.db.command("ping")
        except PyMongoError:
            return False
        return True

    async def _next_seq(self, name: str) -> int:
        doc = await self.db.counters.find_one_and_update(
            {"_id": name}, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        return int(doc["value"])

    async def ensure_conversation(self, contact_id: str, channel: str, platform_user_id: str) -> None:
        if await self.db.conversations.find_one({"_id": contact_id}, {"_id": 1}) is not None:
            return
        key = await self._key(contact_id, create=True)
        await self.db.conversations.update_one(
            {"_id": contact_id},
            {"$setOnInsert": {"channel": channel,
                              "platform_user_id": FieldCipher.seal(key, CONV_USER, platform_user_id),
                              "state": FieldCipher.seal_json(key, CONV_STATE, {}) if key else {},
                              "version": 0, "last_seq": 0, "updated_at": datetime.now(UTC)}},
            upsert=True,
        )

    async def accept_inbound(self, message: Inbound) -> int | None:
        existing = await self.db.inbound.find_one(
            {"channel": message.channel, "platform_message_id": message.platform_message_id}, {"_id": 1}
        )
        if existing is not None:
            return None
        await self.ensure_conversation(message.contact_id, message.channel, message.platform_user_id)
        seq = await self._next_seq("inbound")
        key = await self._key(message.contact_id, create=True)
        try:
            await self.db.inbound.insert_one({
                "_id": seq,
                "channel": message.channel,
                "platform_message_id": message.platform_message_id,
                "contact_id": message.contact_id,
                "body": FieldCipher.seal_json(key, INBOUND_BODY, message.to_json()) if key else message.to_json(),
                "status": "pending",
                "received_at": message.received_at,
            })
        except DuplicateKeyError:
            return None
        return seq

    async def next_pending(self, contact_id: str) -> InboundRecord | None:
        docs = await self.db.inbound.find({"contact_id": contact_id, "status": "pending"}).sort(
            "_id", ASCENDING
        ).limit(1).to_list(1)
        if not docs:
            return None
        doc = docs[0]
        body = FieldCipher.open_json(await self._key(contact_id), contact_id, INBOUND_BODY, doc["body"])
        message = (
            Inbound(str(doc["channel"]), UNREADABLE, contact_id, str(doc["platform_message_id"]),
                    _aware(doc["received_at"]), text=UNREADABLE)
            if body is None else Inbound.from_json(body)
        )
        return InboundRecord(int(doc["_id"]), message, doc["status"])

    async def load_turn(self, contact_id: str) -> tuple[InboundRecord, Conversation] | None:
        record = await self.next_pending(contact_id)
        if record is None:
            return None
        conv = await self.load_conversation(contact_id)
        return None if conv is None else (record, conv)

    async def inbound_status(self, seq: int) -> str | None:
        doc = await self.db.inbound.find_one({"_id": seq}, {"status": 1})
        return None if doc is None else str(doc["status"])

    async def pending_contacts(self, limit: int = 100) -> list[str]:
        docs = await self.db.inbound.find({"status": "pending"}, {"contact_id": 1}).sort(
            "_id", ASCENDING
        ).limit(limit * 10).to_list(limit * 10)
        return list(dict.fromkeys(str(d["contact_id"]) for d in docs))[:limit]

    async def acquire_lease(self, contact_id: str, owner: str, now: datetime, until: datetime) -> bool:
        doc = await self.db.conversations.find_one_and_update(
            {"_id": contact_id, "$or": [
                {"lease_owner": None}, {"lease_owner": owner}, {"lease_until": {"$lt": now}},
            ]},
            {"$set": {"lease_owner": owner, "lease_until": until}},
            return_document=ReturnDocument.AFTER,
        )
        return doc is not None

    async def release_lease(self, contact_id: str, owner: str) -> None:
        await self.db.conversations.update_one(
            {"_id": contact_id, "lease_owner": owner}, {"$set": {"lease_owner": None, "lease_until": None}}
        )

    async def release_if_idle(self, contact_id: str, owner: str) -> bool:
        # Release first, then look: a message that arrived in between is either seen here
        # (and the lease taken back) or its submitter finds the lease free.
        if await self.next_pending(contact_id) is not None:
            return False
        await self.release_lease(contact_id, owner)
        if await self.next_pending(contact_id) is None:
            return True
        now = datetime.now(UTC)
        return not await self.acquire_lease(contact_id, owner, now, now + timedelta(seconds=30))

    async def load_conversation(self, contact_id: str) -> Conversation | None:
        doc = await self.db.conversations.find_one({"_id": contact_id})
        if doc is None:
            return None
        key = await self._key(contact_id)
        state = FieldCipher.open_json(key, contact_id, CONV_STATE, doc.get("state") or {})
        return Conversation(
            contact_id, str(doc["channel"]), FieldCipher.open(key, contact_id, CONV_USER, str(doc["platform_user_id"])),
            dict(state or {}), int(doc.get("version", 0)), int(doc.get("last_seq", 0)),
        )

    async def _insert_outbox(self, drafts: Sequence[OutboxDraft], now: datetime) -> None:
        for d in drafts:
            if await self.db.outbox.find_one({"key": d.key}, {"_id": 1}) is not None:
                continue
            key = await self._key(d.contact_id, create=True)
            try:
                await self.db.outbox.insert_one({
                    "_id": await self._next_seq("outbox"),
                    "key": d.key, "contact_id": d.contact_id, "channel": d.channel,
                    "platform_user_id": FieldCipher.seal(key, OUTBOX_USER, d.platform_user_id),
                    "reply": FieldCipher.seal_json(key, OUTBOX_REPLY, d.reply.to_json()) if key else d.reply.to_json(),
                    "inbound_seq": d.inbound_seq, "status": "pending", "attempts": 0,
                    "next_attempt_at": now, "lease_owner": None, "lease_until": None, "error": None,
                    "platform_message_id": None, "delivery": None,
                })
            except DuplicateKeyError:
                continue

    async def _insert_transcript(self, entries: Sequence[TranscriptDraft]) -> None:
        for e in entries:
            key = await self._key(e.contact_id, create=True)
            await self.db.transcript.insert_one({
                "_id": await self._next_seq("transcript"), "contact_id": e.contact_id,
                "direction": e.direction, "author": e.author,
                "text": FieldCipher.seal(key, TRANSCRIPT_TEXT, e.text), "at": e.at,
                "inbound_seq": e.inbound_seq,
            })

    async def commit_turn(self, commit: TurnCommit) -> None:
        inbound = await self.db.inbound.find_one({"_id": commit.inbound_seq}, {"status": 1})
        if inbound is not None and inbound["status"] == "done":
            return
        conv = await self.db.conversations.find_one({"_id": commit.contact_id}, {"version": 1, "last_seq": 1})
        already_applied = conv is not None and int(conv.get("last_seq", 0)) == commit.inbound_seq
        if not already_applied:
            if conv is None or int(conv.get("version", 0)) != commit.expected_version:
                raise VersionConflict(commit.contact_id)
            now = datetime.now(UTC)
            await self._insert_outbox(commit.outbox, now)
            key = await self._key(commit.contact_id, create=True)
            state: Any = FieldCipher.seal_json(key, CONV_STATE, commit.state) if key else commit.state
            result = await self.db.conversations.update_one(
                {"_id": commit.contact_id, "version": commit.expected_version},
                {"$set": {"state": state, "last_seq": commit.inbound_seq, "updated_at": now},
                 "$inc": {"version": 1}},
            )
            if result.modified_count != 1:
                raise VersionConflict(commit.contact_id)
            await self._insert_transcript(commit.transcript)
        await self.db.inbound.update_one({"_id": commit.inbound_seq}, {"$set": {"status": "done"}})

    async def enqueue(self, drafts: Sequence[OutboxDraft], transcript: Sequence[TranscriptDraft]) -> None:
        now = datetime.now(UTC)
        await self._insert_outbox(drafts, now)
        await self._insert_transcript(transcript)
        contacts = list(dict.fromkeys([*(d.contact_id for d in drafts), *(t.contact_id for t in transcript)]))
        if contacts:
            await self.db.conversations.update_many({"_id": {"$in": contacts}}, {"$set": {"updated_at": now}})

    async def claim_outbox(
        self, owner: str, now: datetime, lease_until: datetime, limit: int = 50
    ) -> list[OutboxItem]:
        heads = await self.db.outbox.find({"status": "pending"}).sort("_id", ASCENDING).to_list(None)
        claimed: list[OutboxItem] = []
        seen: set[str] = set()
        for head in heads:
            contact = str(head["contact_id"])
            if contact in seen:
                continue
            seen.add(contact)
            doc = await self.db.outbox.find_one_and_update(
                {"_id": head["_id"], "status": "pending", "next_attempt_at": {"$lte": now},
                 "$or": [{"lease_until": None}, {"lease_until": {"$lt": now}}]},
                {"$set": {"lease_owner": owner, "lease_until": lease_until}, "$inc": {"attempts": 1}},
                return_document=ReturnDocument.AFTER,
            )
            if doc is not None:
                claimed.append(_outbox_item(doc, await self._key(contact)))
            if len(claimed) >= limit:
                break
        return claimed

    async def complete_outbox(
        self, item_id: int, status: OutboxStatus, error: str | None = None,
        platform_message_id: str | None = None,
    ) -> None:
        update: dict[str, Any] = {"status": status, "error": error, "lease_owner": None, "lease_until": None}
        if platform_message_id is not None:
            update["platform_message_id"] = platform_message_id
        if status == "sent":
            update["sent_at"] = datetime.now(UTC)
            await self.db.outbox.update_one({"_id": item_id, "delivery": None}, {"$set": {"delivery": "sent"}})
        await self.db.outbox.update_one({"_id": item_id}, {"$set": update})

    async def update_delivery(self, channel: str, platform_message_id: str, delivery: str) -> bool:
        rank = DELIVERY_ORDER.get(delivery)
        if rank is None:
            return False
        doc = await self.db.outbox.find_one({"channel": channel, "platform_message_id": platform_message_id})
        if doc is None:
            return False
        lower = [k for k, v in DELIVERY_ORDER.items() if v < rank]
        allowed: dict[str, Any] = (
            {} if delivery == "failed" else {"delivery": {"$in": [None, *lower]}}
        )
        await self.db.outbox.update_one({"_id": doc["_id"], **allowed}, {"$set": {"delivery": delivery}})
        return True

    async def retry_outbox(self, item_id: int, next_attempt_at: datetime, error: str) -> None:
        await self.db.outbox.update_one(
            {"_id": item_id},
            {"$set": {"next_attempt_at": next_attempt_at, "error": error, "lease_owner": None,
                      "lease_until": None}},
        )

    async def outbox_for_inbound(self, inbound_seq: int) -> list[OutboxItem]:
        docs = await self.db.outbox.find({"inbound_seq": inbound_seq}).sort("_id", ASCENDING).to_list(None)
        return await self._items(docs)

    async def outbox_since(self, contact_id: str, after_id: int = 0, limit: int = 100) -> list[OutboxItem]:
        docs = await self.db.outbox.find({"contact_id": contact_id, "_id": {"$gt": after_id}}).sort(
            "_id", ASCENDING
        ).limit(limit).to_list(limit)
        return await self._items(docs)

    async def outbox_backlog(self) -> int:
        return int(await self.db.outbox.count_documents({"status": "pending"}))

    async def transcript(self, contact_id: str, after_seq: int = 0, limit: int = 200) -> list[TranscriptEntry]:
        docs = await self.db.transcript.find({"contact_id": contact_id, "_id": {"$gt": after_seq}}).sort(
            "_id", ASCENDING
        ).limit(limit).to_list(limit)
        key = await self._key(contact_id) if docs else None
        return [
            TranscriptEntry(int(d["_id"]), str(d["contact_id"]), d["direction"], str(d["author"]),
                            FieldCipher.open(key, contact_id, TRANSCRIPT_TEXT, str(d["text"])),
                            _aware(d["at"]), d.get("inbound_seq"))
            for d in docs
        ]

    async def update_state(self, contact_id: str, mutate: dict[str, Any]) -> None:
        if self.cipher is None:
            await self.db.conversations.update_one(
                {"_id": contact_id},
                {"$set": {f"state.{k}": v for k, v in mutate.items()}, "$inc": {"version": 1}},
            )
            return
        # A sealed state cannot be merged by the server: read, merge, and write back if unchanged.
        for _ in range(20):
            doc = await self.db.conversations.find_one({"_id": contact_id}, {"state": 1, "version": 1})
            if doc is None:
                return
            if await self._replace_state(contact_id, doc, mutate):
                return
        raise VersionConflict(contact_id)

    async def _replace_state(self, contact_id: str, doc: dict[str, Any], mutate: dict[str, Any]) -> bool:
        key = await self._key(contact_id, create=True)
        state = dict(FieldCipher.open_json(key, contact_id, CONV_STATE, doc.get("state") or {}) or {})
        if all(k in state and state[k] == v for k, v in mutate.items()):
            return True  # unchanged: a version bump would only make a turn in flight start over
        state.update(mutate)
        result = await self.db.conversations.update_one(
            {"_id": contact_id, "version": doc.get("version", 0)},
            {"$set": {"state": FieldCipher.seal_json(key, CONV_STATE, state)}, "$inc": {"version": 1}},
        )
        return int(result.modified_count) == 1

    # -- privacy -------------------------------------------------------------------------
    async def erase_contact(
        self, contact_id: str, keep_case_part: bool = False, *, dry_run: bool = False
    ) -> ErasureReport:
        by_contact = {"contact_id": contact_id}
        n = {
            "inbound": await self.db.inbound.count_documents(by_contact),
            "outbox": await self.db.outbox.count_documents(by_contact),
            "transcript": await self.db.transcript.count_documents(by_contact),
            "conversations": await self.db.conversations.count_documents({"_id": contact_id}),
            "keys": await self.db.contact_keys.count_documents({"_id": contact_id}),
        }
        report = ErasureReport(
            contact_id, n["inbound"], n["outbox"], 0 if keep_case_part else n["transcript"],
            0 if keep_case_part else n["conversations"], 0 if keep_case_part else n["keys"],
            n["transcript"] if keep_case_part else 0, keep_case_part and n["keys"] > 0, dry_run,
        )
        if dry_run:
            return report
        if not keep_case_part:
            # The key first: from here on, every copy of the data is unreadable.
            await self.db.contact_keys.delete_one({"_id": contact_id})
            if self.cipher is not None:
                self.cipher.forget(contact_id)
        await self.db.inbound.delete_many(by_contact)
        await self.db.outbox.delete_many(by_contact)
        if not keep_case_part:
            await self.db.transcript.delete_many(by_contact)
            await self.db.conversations.delete_one({"_id": contact_id})
            return report
        conv = await self.load_conversation(contact_id)
        if conv is not None:
            key = await self._key(contact_id)
            state = {k: conv.state[k] for k in CONTROL_STATE if k in conv.state} | {"erased": True}
            await self.db.conversations.update_one(
                {"_id": contact_id},
                {"$set": {"state": FieldCipher.seal_json(key, CONV_STATE, state) if key else state},
                 "$inc": {"version": 1}},
            )
        return report

    async def idle_contacts(self, before: datetime, after: str = "", limit: int = 500) -> list[str]:
        docs = await self.db.conversations.find(
            {"updated_at": {"$lt": before}, "_id": {"$gt": after}}, {"_id": 1}
        ).sort("_id", ASCENDING).limit(limit).to_list(limit)
        ids = [str(d["_id"]) for d in docs]
        busy = await self.db.inbound.find(
            {"contact_id": {"$in": ids}, "status": "pending"}, {"contact_id": 1}
        ).to_list(None) if ids else []
        pending = {str(d["contact_id"]) for d in busy}
        return [i for i in ids if i not in pending]

    async def purge_inbound(self, before: datetime, *, dry_run: bool = False) -> int:
        query = {"status": "done", "received_at": {"$lt": before}}
        if dry_run:
            return int(await self.db.inbound.count_documents(query))
        return int((await self.db.inbound.delete_many(query)).deleted_count)

    async def purge_sent_outbox(self, before: datetime, *, dry_run: bool = False) -> int:
        query = {"status": "sent", "sent_at": {"$lt": before}}
        if dry_run:
            return int(await self.db.outbox.count_documents(query))
        return int((await self.db.outbox.delete_many(query)).deleted_count)

    async def key_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        async for doc in self.db.contact_keys.find({}, {"kid": 1}):
            counts[str(doc["kid"])] = counts.get(str(doc["kid"]), 0) + 1
        return dict(sorted(counts.items()))

    async def rewrap_keys(self, limit: int = 500) -> int:
        cipher = self.cipher
        if cipher is None:
            raise StoreError("no keyring: encryption at rest is off")
        active = cipher.keyring.active
        docs = await self.db.contact_keys.find({"kid": {"$ne": active}}).limit(limit).to_list(limit)
        for doc in docs:
            new = cipher.rewrap(str(doc["_id"]), WrappedKey(str(doc["kid"]), str(doc["wrapped"])))
            await self.db.contact_keys.update_one(
                {"_id": doc["_id"], "wrapped": doc["wrapped"]}, {"$set": {"kid": new.kid, "wrapped": new.wrapped}}
            )
        return len(docs)
