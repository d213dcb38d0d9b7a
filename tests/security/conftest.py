"""Fixtures for the security suite: a whole app on each store adapter, with a settable clock."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from caseline.app import Services, create_app
from casework import totp
from casework.core import Casework
from tests.casework.conftest import FakeClock, open_backend_for
from tests.casework.harness import PASSWORD, casework

ROUTING = "teams:\n  default: default\n  routes:\n    - {channel: telegram, team: other}\n"
Client = TestClient[Any, Any]


@dataclass
class World:
    services: Services
    client: Client
    clock: FakeClock

    @property
    def cw(self) -> Casework:
        return casework(self.services)

    async def login(self, username: str, password: str = PASSWORD, code: str | None = None) -> dict[str, str]:
        body: dict[str, Any] = {"username": username, "password": password}
        if code is not None:
            body["totp"] = code
        resp = await self.client.post("/api/v1/auth/login", json=body)
        assert resp.status == 200, await resp.text()
        return {"Authorization": f"Bearer {(await resp.json())['token']}"}

    async def console_login(self, username: str, password: str = PASSWORD) -> str:
        """Log in through the console form; the client keeps the cookie. Returns the CSRF token."""
        resp = await self.client.post("/console/login", data={"username": username, "password": password})
        assert resp.url.path == "/console/queue", (resp.status, resp.url)
        page = await self.client.get("/console/account")  # every role may open its account page
        found = re.search(r'name="csrf-token" content="([^"]+)"', await page.text())
        assert found
        return found.group(1)

    async def enrol(self, username: str, password: str = PASSWORD) -> str:
        resp = await self.client.post("/api/v1/auth/totp/enrol", json={"username": username, "password": password})
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["secret"])

    def code(self, secret: str, steps: int = 0) -> str:
        return totp.code_at(secret, totp.step_of(self.clock().timestamp()) + steps)


WorldFactory = Callable[..., Awaitable[World]]


@pytest.fixture
async def make_world(
    make_services: Any, aiohttp_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> WorldFactory:
    async def make(kind: str = "sqlite", extra_config: str = "") -> World:
        config = tmp_path / f"casework-{kind}.yml"
        config.write_text(ROUTING + extra_config, encoding="utf-8")
        monkeypatch.setenv("CASELINE_CASEWORK_CONFIG", str(config))
        backend, _close = await open_backend_for(kind, tmp_path)
        # Near the real time: the Mongo fake applies the sessions' TTL index against the wall clock.
        clock = FakeClock(datetime.now(UTC).replace(second=0, microsecond=0))
        services = await make_services(backend=backend, clock=clock)
        client = await aiohttp_client(create_app(services, background=False))
        return World(services, client, clock)

    return make


# The suites log in far more often than a person would; test_auth checks the real limits.
MANY_LOGINS = "  logins_per_account: 10000\n  logins_per_address: 10000\n"
TOTP_REQUIRED = "auth:\n  require_totp_for: [supervisor, admin]\n"


@pytest.fixture(params=["sqlite", "mongo-fake"])
async def world(request: pytest.FixtureRequest, make_world: WorldFactory) -> World:
    return await make_world(request.param, "auth:\n" + MANY_LOGINS)


@pytest.fixture(params=["sqlite", "mongo-fake"])
async def strict_world(request: pytest.FixtureRequest, make_world: WorldFactory) -> World:
    """Supervisors and admins must use a second factor."""
    return await make_world(request.param, TOTP_REQUIRED + MANY_LOGINS)
