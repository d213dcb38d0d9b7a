"""The app wired to local fake platform APIs, plus per-platform helpers for the shared tests."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from caseline.app import Services, build_services, create_app
from caseline.identity import contact_id
from caseline.messages import Inbound
from caseline.pipeline import Stages
from caseline.settings import Settings
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.telegram_api import FakePlatformServer, FakeTelegramApi
from tests.fakes.viber_api import FakeViberApi

FIXTURES = Path(__file__).parents[1] / "fixtures"
TG_SECRET = "tg-webhook-secret_0123456789"
WA_VERIFY = "wa-verify-token"
WA_APP_SECRET = "wa-app-secret-0123456789abcdef"
Client = TestClient[Any, Any]


def fixture(channel: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / channel / f"{name}.json").read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def wa_signature(raw: bytes, secret: str = WA_APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def viber_signature(raw: bytes, token: str) -> str:
    return hmac.new(token.encode(), raw, hashlib.sha256).hexdigest()


@pytest.fixture
async def tg_api() -> AsyncIterator[FakeTelegramApi]:
    api = FakeTelegramApi()
    await api.start()
    yield api
    await api.close()


@pytest.fixture
async def graph_api() -> AsyncIterator[FakeGraphApi]:
    api = FakeGraphApi()
    await api.start()
    yield api
    await api.close()


@pytest.fixture
async def viber_api() -> AsyncIterator[FakeViberApi]:
    api = FakeViberApi()
    await api.start()
    yield api
    await api.close()


def platform_settings(settings: Settings, tg: FakeTelegramApi, wa: FakeGraphApi, vb: FakeViberApi) -> Settings:
    return settings.model_copy(update={
        "telegram_token": tg.token, "telegram_webhook_secret": TG_SECRET, "telegram_api_base": tg.url,
        "whatsapp_verify_token": WA_VERIFY, "whatsapp_app_secret": WA_APP_SECRET,
        "whatsapp_access_token": wa.access_token, "whatsapp_phone_number_id": wa.phone_number_id,
        "whatsapp_api_base": wa.url, "viber_token": vb.token, "viber_api_base": vb.url,
        "max_body_bytes": 64 * 1024,
    })


@pytest.fixture
def bot_settings(settings: Settings, tg_api: FakeTelegramApi, graph_api: FakeGraphApi,
                 viber_api: FakeViberApi) -> Settings:
    return platform_settings(settings, tg_api, graph_api, viber_api)


@pytest.fixture
async def services(bot_settings: Settings, stages: Stages) -> AsyncIterator[Services]:
    built = await build_services(bot_settings, stages=stages)
    yield built
    await built.store.close()  # an open aiosqlite thread would keep the test process alive


@pytest.fixture
def accepted(services: Services) -> list[Inbound]:
    """Every message a connector handed to the pipeline (and the store took as new), in order."""
    seen: list[Inbound] = []
    accept = services.pipeline.accept

    async def spy(message: Inbound) -> int | None:
        seq = await accept(message)
        if seq is not None:
            seen.append(message)
        return seq

    services.pipeline.accept = spy  # type: ignore[method-assign]
    return seen


@pytest.fixture
async def client(services: Services) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(services))) as c:
        yield c


async def counts(services: Services) -> tuple[int, ...]:
    db = services.backend.sqlite
    assert db is not None
    rows = [await db.fetchone(f"SELECT COUNT(*) AS n FROM {t}") for t in ("inbound", "outbox", "transcript")]
    return tuple(int(r["n"]) for r in rows if r is not None)


async def settle(services: Services, timeout: float = 20.0) -> None:
    """Wait until every accepted message is processed and every reply is sent or failed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await services.store.pending_contacts() or await services.store.outbox_backlog():
        assert loop.time() < deadline, "replies still pending"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)


@dataclass
class Platform:
    """How to speak to one platform in the shared tests."""

    name: str
    user: str
    post_text: Callable[[Client, str, int], Awaitable[ClientResponse]]
    api: FakePlatformServer

    def contact(self, services: Services) -> str:
        return contact_id(services.settings.secret_key, self.name, self.user)

    @property
    def sent(self) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = self.api.sent  # type: ignore[attr-defined]
        return sent

    def sent_id(self, sent: dict[str, Any]) -> str:
        if self.name == "telegram":
            return f"{sent['chat_id']}:{sent['message_id']}"
        return str(sent["wamid"] if self.name == "whatsapp" else sent["message_token"])


async def post_telegram(client: Client, text: str, n: int) -> ClientResponse:
    update = fixture("telegram", "message_text")
    update["update_id"] += n
    update["message"]["message_id"] += n
    update["message"]["text"] = text
    return await client.post("/webhooks/telegram", json=update,
                             headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})


async def post_whatsapp(client: Client, text: str, n: int) -> ClientResponse:
    body = fixture("whatsapp", "text")
    msg = body["entry"][0]["changes"][0]["value"]["messages"][0]
    msg["id"] += f".{n}"
    msg["text"]["body"] = text
    msg["timestamp"] = str(int(time.time()))
    raw = json.dumps(body).encode()
    return await client.post("/webhooks/whatsapp", data=raw,
                             headers={"X-Hub-Signature-256": wa_signature(raw), "Content-Type": "application/json"})


def viber_poster(token: str) -> Callable[[Client, str, int], Awaitable[ClientResponse]]:
    async def post(client: Client, text: str, n: int) -> ClientResponse:
        body = fixture("viber", "message_text")
        body["message_token"] += n
        body["message"]["text"] = text
        raw = json.dumps(body).encode()
        return await client.post("/webhooks/viber", data=raw,
                                 headers={"X-Viber-Content-Signature": viber_signature(raw, token)})
    return post


@pytest.fixture(params=["telegram", "whatsapp", "viber"])
def platform(request: pytest.FixtureRequest, tg_api: FakeTelegramApi, graph_api: FakeGraphApi,
             viber_api: FakeViberApi) -> Platform:
    if request.param == "telegram":
        return Platform("telegram", "5120439876", post_telegram, tg_api)
    if request.param == "whatsapp":
        return Platform("whatsapp", "16505551234", post_whatsapp, graph_api)
    return Platform("viber", "01234567890A=", viber_poster(viber_api.token), viber_api)
