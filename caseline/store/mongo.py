"""MongoDB adapter on PyMongo's ``AsyncMongoClient`` (Motor is deprecated).

Every transition is a single-document operation so that no transaction (and so no
replica set) is required; a turn's writes are ordered to be idempotent instead:
outbox rows first (unique key), then the version-checked state, then the inbox mark.
A crash in between is repaired by re-running the turn, which writes nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from caseline.messages import Inbound, Reply
from caseline.store.base import (
    DELIVERY_ORDER,
    Conversation,
    ConversationStore,
    InboundRecord,
    OutboxDraft,
    OutboxItem,
    OutboxStatus,
    StoreUnavailable,
    TranscriptDraft,
    TranscriptEntry,
    TurnCommit,
    VersionConflict,
)

INBOUND_RETENTION = timedelta(days=8)


def _aware(value: datetime) -> datetime:
    """BSON dates come back naive (UTC); make them comparable with aware datetimes."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _outbox_item(doc: dict[str, Any]) -> OutboxItem:
    return OutboxItem(
        id=int(doc["_id"]),
        key=str(doc["key"]),
        contact_id=str(doc["contact_id"]),
        channel=str(doc["channel"]),
        platform_user_id=str(doc["platform_user_id"]),
        reply=Reply.from_json(doc["reply"]),
        inbound_seq=doc.get("inbound_seq"),
        status=doc["status"],
        attempts=int(doc.get("attempts", 0)),
        next_attempt_at=_aware(doc["next_attempt_at"]),
        error=doc.get("error"),
        platform_message_id=doc.get("platform_message_id"),
        delivery=doc.get("delivery"),
    )


class MongoConversationStore(ConversationStore):
    """``db`` is an ``AsyncDatabase`` (or the test suite's in-process fake of one)."""

    def __init__(self, db: Any, close: Any = None) -> None:
        self.db = db
        self._close = close

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
        except PyMongoError as exc:
            raise StoreUnavailable(f"cannot prepare MongoDB: {exc}") from exc

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
        await self.db.conversations.update_one(
            {"_id": contact_id},
            {"$setOnInsert": {"channel": channel, "platform_user_id": platform_user_id,
                              "state": {}, "version": 0, "last_seq": 0}},
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
        try:
            await self.db.inbound.insert_one({
                "_id": seq,
                "channel": message.channel,
                "platform_message_id": message.platform_message_id,
                "contact_id": message.contact_id,
                "body": message.to_json(),
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
        return InboundRecord(int(doc["_id"]), Inbound.from_json(doc["body"]), doc["status"])

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
        return Conversation(
            contact_id, str(doc["channel"]), str(doc["platform_user_id"]), dict(doc.get("state") or {}),
            int(doc.get("version", 0)), int(doc.get("last_seq", 0)),
        )

    async def _insert_outbox(self, drafts: Sequence[OutboxDraft], now: datetime) -> None:
        for d in drafts:
            if await self.db.outbox.find_one({"key": d.key}, {"_id": 1}) is not None:
                continue
            try:
                await self.db.outbox.insert_one({
                    "_id": await self._next_seq("outbox"),
                    "key": d.key, "contact_id": d.contact_id, "channel": d.channel,
                    "platform_user_id": d.platform_user_id, "reply": d.reply.to_json(),
                    "inbound_seq": d.inbound_seq, "status": "pending", "attempts": 0,
                    "next_attempt_at": now, "lease_owner": None, "lease_until": None, "error": None,
                    "platform_message_id": None, "delivery": None,
                })
            except DuplicateKeyError:
                continue

    async def _insert_transcript(self, entries: Sequence[TranscriptDraft]) -> None:
        for e in entries:
            await self.db.transcript.insert_one({
                "_id": await self._next_seq("transcript"), "contact_id": e.contact_id,
                "direction": e.direction, "author": e.author, "text": e.text, "at": e.at,
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
            result = await self.db.conversations.update_one(
                {"_id": commit.contact_id, "version": commit.expected_version},
                {"$set": {"state": commit.state, "last_seq": commit.inbound_seq, "updated_at": now},
                 "$inc": {"version": 1}},
            )
            if result.modified_count != 1:
                raise VersionConflict(commit.contact_id)
            await self._insert_transcript(commit.transcript)
        await self.db.inbound.update_one({"_id": commit.inbound_seq}, {"$set": {"status": "done"}})

    async def enqueue(self, drafts: Sequence[OutboxDraft], transcript: Sequence[TranscriptDraft]) -> None:
        await self._insert_outbox(drafts, datetime.now(UTC))
        await self._insert_transcript(transcript)

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
                claimed.append(_outbox_item(doc))
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
        return [_outbox_item(d) for d in docs]

    async def outbox_since(self, contact_id: str, after_id: int = 0, limit: int = 100) -> list[OutboxItem]:
        docs = await self.db.outbox.find({"contact_id": contact_id, "_id": {"$gt": after_id}}).sort(
            "_id", ASCENDING
        ).limit(limit).to_list(limit)
        return [_outbox_item(d) for d in docs]

    async def outbox_backlog(self) -> int:
        return int(await self.db.outbox.count_documents({"status": "pending"}))

    async def transcript(self, contact_id: str, after_seq: int = 0, limit: int = 200) -> list[TranscriptEntry]:
        docs = await self.db.transcript.find({"contact_id": contact_id, "_id": {"$gt": after_seq}}).sort(
            "_id", ASCENDING
        ).limit(limit).to_list(limit)
        return [
            TranscriptEntry(int(d["_id"]), str(d["contact_id"]), d["direction"], str(d["author"]),
                            str(d["text"]), _aware(d["at"]), d.get("inbound_seq"))
            for d in docs
        ]

    async def update_state(self, contact_id: str, mutate: dict[str, Any]) -> None:
        await self.db.conversations.update_one(
            {"_id": contact_id},
            {"$set": {f"state.{k}": v for k, v in mutate.items()}, "$inc": {"version": 1}},
        )
