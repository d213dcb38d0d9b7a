"""Chooses the store adapter from ``CASELINE_STORE``."""

from __future__ import annotations

from caseline.settings import Settings
from caseline.store.base import ConversationStore
from caseline.store.mongo import MongoConversationStore
from caseline.store.sqlite import SqliteConversationStore, SqliteDb


def open_store(settings: Settings) -> ConversationStore:
    if not settings.uses_mongo:
        return SqliteConversationStore(SqliteDb(settings.sqlite_path))
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        settings.store, serverSelectionTimeoutMS=3000, tz_aware=True
    )
    db = client.get_default_database("caseline")
    return MongoConversationStore(db, close=client.close)
