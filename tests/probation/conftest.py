"""A whole app on fake platform APIs with a fake clock, plus helpers to drive it turn by turn.

The app runs with ``background=False`` so the test decides when the scheduler and the
outbox run: every step is deterministic under the fake clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from caseline.app import Services, build_services, create_app
from caseline.pipeline import Stages
from caseline.settings import Settings
from casework.probation.wiring import RUNTIME, Runtime
from tests.bots.conftest import TG_SECRET, fixture, graph_api, platform_settings, tg_api, viber_api
from tests.casework.harness import add_user, token
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.viber_api import FakeViberApi

__all__ = ["graph_api", "tg_api", "viber_api"]
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
CHAT = 5120439876
# A Monday, 08:00 in Bucharest; after the real now, because the outbox dates new items by the wall clock.
START = datetime(2027, 3, 1, 6, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class World:
    services: Services
    client: TestClient[Any, Any]
    clock: FakeClock
    tg: FakeTelegramApi
    runtime: Runtime
    n: int = 0
    headers: dict[str, str] = field(default_factory=dict)

    async def settle(self) -> None:
        """Process every accepted message and send every queued reply."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while True:
            pending = await self.services.store.pending_contacts()
            for contact in pending:
                await self.services.pipeline.drain(contact)
            sent = await self.services.outbox.run_once()
            if not pending and not sent and not await self.services.store.outbox_backlog():
                return
            assert loop.time() < deadline, "not settled"
            await asyncio.sleep(0.01)

    async def tick(self, until: datetime) -> None:
        """Move the fake clock and run every job due by then, then deliver."""
        self.clock.set(until)
        while (await self.runtime.scheduler.run_once()).claimed:
            pass
        await self.settle()

    async def send_text(self, text: str) -> None:
        self.n += 1
        update = fixture("telegram", "message_text")
        update["update_id"] += 1000 + self.n
        update["message"]["message_id"] += 1000 + self.n
        update["message"]["text"] = text
        update["message"]["date"] = int(self.clock().timestamp())
        resp = await self.client.post("/webhooks/telegram", json=update, headers=HEADERS)
        assert resp.status == 200, await resp.text()
        await self.settle()

    async def press(self, title: str) -> None:
        """Press the button whose title contains ``title`` on the latest message that offers it."""
        for sent in reversed(self.tg.sent):
            for row in (sent.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if title.casefold() in button["text"].casefold():
                        await self._callback(button["callback_data"])
                        return
        raise AssertionError(f"no button {title!r} was offered")

    async def _callback(self, data: str) -> None:
        self.n += 1
        update = fixture("telegram", "callback_query")
        update["update_id"] += 1000 + self.n
        update["callback_query"]["id"] = f"cb{self.n}"
        update["callback_query"]["message"]["message_id"] = 5000 + self.n
        update["callback_query"]["data"] = data
        resp = await self.client.post("/webhooks/telegram", json=update, headers=HEADERS)
        assert resp.status == 200, await resp.text()
        await self.settle()

    async def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the API as the officer, logging in afresh (the fake clock jumps past idle timeouts)."""
        self.headers = await token(self.client, "olga")
        return await self.client.request(method, "/api/v1" + path, headers=self.headers, **kwargs)

    def texts(self) -> list[str]:
        return [str(s.get("text", "")) for s in self.tg.sent]


@pytest.fixture
async def world(
    settings: Settings, stages: Stages, tg_api: FakeTelegramApi, graph_api: FakeGraphApi, viber_api: FakeViberApi
) -> AsyncIterator[World]:
    clock = FakeClock(START)
    services = await build_services(platform_settings(settings, tg_api, graph_api, viber_api), stages=stages,
                                    clock=clock)
    app = create_app(services, background=False)
    async with TestClient(TestServer(app)) as client:
        world = World(services, client, clock, tg_api, app[RUNTIME])
        await add_user(services, "olga", "probation_officer", ["default"])
        world.headers = await token(client, "olga")
        yield world
