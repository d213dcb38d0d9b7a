from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from caseline.app import Services, build_services, create_app
from caseline.pipeline import Stages
from caseline.settings import Settings


@pytest.fixture
async def services(settings: Settings, stages: Stages) -> AsyncIterator[Services]:
    built = await build_services(settings, stages=stages)
    yield built
    await built.store.close()  # an open aiosqlite thread would keep the test process alive


@pytest.fixture
async def client(services: Services) -> AsyncIterator[TestClient[object, object]]:
    async with TestClient(TestServer(create_app(services))) as c:
        yield c


async def new_session(client: TestClient[object, object]) -> str:
    r = await client.post("/webchat/sessions", json={})
    assert r.status == 201
    return str((await r.json())["session_id"])
