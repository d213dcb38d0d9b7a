"""Chooses the storage backend from ``CASELINE_STORE`` and builds stores on it.

Each domain (conversations, cases, schedules...) has its own port and adapters; they
share one backend handle: one SQLite connection or one MongoDB database per process.

The handle also carries the :class:`~caseline.crypto.FieldCipher` when encryption at rest
is on, because the contact's data key lives in this backend's key store and every store
that holds a contact's text (conversations, cases, probation) seals it under that one key:
erasing the contact deletes the key, and so shreds all of it, in every copy. One cipher per
process also means one key cache, so an erasure is seen at once by every store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from caseline.crypto import FieldCipher
from caseline.settings import Settings
from caseline.store.base import ConversationStore
from caseline.store.mongo import MongoConversationStore
from caseline.store.sqlite import SqliteConversationStore, SqliteDb


@dataclass(frozen=True)
class Backend:
    """``sqlite`` is set for the embedded store, ``mongo`` (an AsyncDatabase) otherwise.

    ``cipher`` None means the stores built on this backend keep their fields in plain text.
    """

    sqlite: SqliteDb | None = None
    mongo: Any = None
    close_mongo: Callable[[], Awaitable[None]] | None = None
    cipher: FieldCipher | None = None

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


def with_cipher(backend: Backend, cipher: FieldCipher | None) -> Backend:
    """The same backend whose stores seal contact fields with ``cipher`` (None: plain)."""
    return replace(backend, cipher=cipher)


def conversation_store(backend: Backend, cipher: FieldCipher | None = None) -> ConversationStore:
    """``cipher`` defaults to the backend's."""
    cipher = cipher if cipher is not None else backend.cipher
    if backend.sqlite is not None:
        return SqliteConversationStore(backend.sqlite, cipher=cipher)
    return MongoConversationStore(backend.mongo, close=backend.close_mongo, cipher=cipher)
