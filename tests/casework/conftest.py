"""Fixtures for casework: the case store over every adapter, and a whole app on a tmp dir.

The store runs on SQLite (a tmp file), on MongoDB through the in-process fake
(``tests/fakes/mongo.py``), and on a real server when ``CASELINE_TEST_MONGODB_URI``
is set; the parametrize ids say which ("sqlite", "mongo-fake", "mongo-real").
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from caseline.store.factory import Backend
from caseline.store.sqlite import SqliteDb
from casework.core import case_store
from casework.ports import CaseStore
from tests.fakes.mongo import fake_async_database

BACKENDS = ["sqlite", "mongo-fake", "mongo-real"]
SECRET = "test-secret-key-0123456789abcdef0123456789"


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 3, 3, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


async def open_backend_for(kind: str, tmp_path: Path) -> tuple[Backend, Callable[[], Any]]:
    if kind == "sqlite":
        db = SqliteDb(tmp_path / "cases.sqlite3")
        await db.open()
        return Backend(sqlite=db), db.close
    if kind == "mongo-fake":
        return Backend(mongo=fake_async_database()), _noop
    uri = os.environ.get("CASELINE_TEST_MONGODB_URI")
    if not uri:
        pytest.skip("CASELINE_TEST_MONGODB_URI is not set")
    from pymongo import AsyncMongoClient

    client: Any = AsyncMongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=3000)
    name = f"caseline_test_{uuid.uuid4().hex[:8]}"

    async def drop() -> None:
        await client.drop_database(name)
        await client.close()

    return Backend(mongo=client[name]), drop


async def _noop() -> None:
    return None


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    handle, close = await open_backend_for(request.param, tmp_path)
    yield handle
    await close()


@pytest.fixture
async def store(backend: Backend) -> CaseStore:
    cases = case_store(backend)
    await cases.open()
    return cases




