"""Helpers shared by casework's app-level tests: accounts, logins and opening cases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient

from caseline.app import SERVICES, Services
from caseline.messages import Inbound
from caseline.ports import Escalation
from casework.core import CASEWORK, Casework

PASSWORD = "correct horse battery"


def casework(services: Services) -> Casework:
    gateway: Any = services.pipeline.cases
    return gateway.casework  # type: ignore[no-any-return]


async def add_user(services: Services, username: str, role: str, teams: list[str]) -> None:
    await casework(services).accounts.create("test", username, role, teams, PASSWORD)


async def token(client: TestClient[Any, Any], username: str, password: str = PASSWORD) -> dict[str, str]:
    resp = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def open_case(
    services: Services, contact: str, channel: str = "webchat", severity: str = "high", seq: int = 1
) -> str:
    await services.store.ensure_conversation(contact, channel, f"user-{contact}")
    return await casework(services).desk.escalate(
        Escalation(contact, channel, severity, ("physical_abuse",), "screen", seq, "en", None, ("rule.test",))
    )


async def child_says(services: Services, contact: str, text: str, n: int) -> int | None:
    message = Inbound("webchat", f"user-{contact}", contact, f"{contact}:{n}", datetime.now(UTC), text=text)
    return await services.pipeline.submit(message)


def app_casework(client: TestClient[Any, Any]) -> Casework:
    return client.app[CASEWORK]


def app_services(client: TestClient[Any, Any]) -> Services:
    return client.app[SERVICES]
