"""An in-process stand-in for PyMongo's AsyncDatabase, over mongomock.

Only the async surface Caseline's adapters use is wrapped; every call goes to
mongomock's real query engine, so filters, sorts, upserts and unique indexes behave
as MongoDB's do. Used when ``CASELINE_TEST_MONGODB_URI`` is not set.
"""

from __future__ import annotations

from typing import Any

import mongomock


class FakeCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def sort(self, *args: Any, **kwargs: Any) -> FakeCursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    def limit(self, n: int) -> FakeCursor:
        self._cursor = self._cursor.limit(n)
        return self

    def skip(self, n: int) -> FakeCursor:
        self._cursor = self._cursor.skip(n)
        return self

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        docs = list(self._cursor)
        return docs if length is None else docs[:length]

    def __aiter__(self) -> FakeCursor:
        self._iter = iter(self._cursor)
        return self

    async def __anext__(self) -> dict[str, Any]:
        try:
            return next(self._iter)
        except StopIteration:
            raise StopAsyncIteration from None


class FakeCollection:
    def __init__(self, coll: Any) -> None:
        self._coll = coll

    def find(self, *args: Any, **kwargs: Any) -> FakeCursor:
        return FakeCursor(self._coll.find(*args, **kwargs))

    async def aggregate(self, pipeline: list[dict[str, Any]], **kwargs: Any) -> FakeCursor:
        return FakeCursor(self._coll.aggregate(pipeline, **kwargs))

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._coll, name)
        if not callable(target):
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            kwargs.pop("session", None)
            return target(*args, **kwargs)

        return call


class FakeDatabase:
    def __init__(self, db: Any) -> None:
        self._db = db

    def __getattr__(self, name: str) -> FakeCollection:
        if name.startswith("_"):
            raise AttributeError(name)
        return FakeCollection(self._db[name])

    def __getitem__(self, name: str) -> FakeCollection:
        return FakeCollection(self._db[name])

    async def command(self, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if name == "ping":
            return {"ok": 1.0}
        return dict(self._db.command(name, *args, **kwargs))

    async def list_collection_names(self) -> list[str]:
        return list(self._db.list_collection_names())

    def raw(self) -> Any:
        """The underlying mongomock database, for tests that scan stored documents."""
        return self._db


def fake_async_database(name: str = "caseline") -> FakeDatabase:
    return FakeDatabase(mongomock.MongoClient(tz_aware=True)[name])
