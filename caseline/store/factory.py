"""Chooses the storage backend from ``CASELINE_STORE`` and builds stores on it.

Each domain (conversations, cases, schedules...) has its own port and adapters; they
share one backend handle: one SQLite connection or one MongoDB database per process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from caseline.crypto import FieldCipher
from caseline.settings import Settings
from caseline.store.base import ConversationStore
from caseline.store.mongo import MongoConversationStore
from caseline.store.sqlite import SqliteConversationStore, SqliteDb


@dataclass(frozen=True)
class Backend:
    """``sqlite`` is set for the embedded store, ``mongo`` (an AsyncDatabase) otherwise."""

    sqlite: SqliteDb | None = None
    mongo: Any = None
    close_mongo: Callable[[], Awaitable[None]] | None = None

    @property
    def kind(self) -> str:
        return "sqlite" if self.sqlite is not None else "mongodb"


def open_backend(settings: Settings) -> Backend:
    if not settings.uses_mongo:
        return Backend(sqlite=SqliteDb(settings.sqlite_path))
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.store, serverSelectionTimeoutMS=3000, tz_aware=True
    )
    return Backend(mongo=client.get_default_database("caseline"), close_mongo=client.close)


def conversation_store(backend: Backend, cipher: FieldCipher | None = None) -> ConversationStore:
    if backend.sqlite is not None:
        return SqliteConversationStore(backend.sqlite, cipher=cipher)
    return MongoConversationStore(backend.mongo, close=backend.close_mongo, cipher=cipher)
