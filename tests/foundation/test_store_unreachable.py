"""With the store unreachable the service says 503 (so platforms retry) and stays up."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from pymongo import AsyncMongoClient

from caseline.app import build_services, create_app
from caseline.pipeline import Stages
from caseline.settings import Settings
from caseline.store.factory import Backend
from tests.foundation.server import free_port


async def test_unreachable_mongodb_gives_503_not_500(settings: Settings, stages: Stages) -> None:
    port = free_port()  # nothing listens there
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{port}/caseline", serverSelectionTimeoutMS=300, connectTimeoutMS=300
    )
    backend = Backend(mongo=client["caseline"], close_mongo=client.close)
    services = await build_services(settings, backend=backend, stages=stages, check_store=False)
    async with TestClient(TestServer(create_app(services, background=False))) as c:
        r = await c.post("/webchat/sessions", json={})
        assert r.status == 503 and "retry" in (await r.json())["error"]
        r = await c.post("/webchat/messages", json={"session_id": "abc", "text": "hi"})
        assert r.status == 503
        assert (await c.get("/readyz")).status == 503
        assert (await c.get("/healthz")).status == 200  # alive, just not ready
