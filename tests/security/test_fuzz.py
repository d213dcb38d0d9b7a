"""Fuzz every API and webhook route: random methods, path parameters, JSON bodies and headers.

No answer may be a 5xx and nothing may reach the app's unhandled-error handler. One app serves
the whole run; hypothesis drives requests from a worker thread into the app's event loop.
``CASELINE_FUZZ_EXAMPLES`` sets the number of examples (``make fuzz`` runs 10,000).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseline.app import Services
from tests.bots.conftest import (  # noqa: F401  (fixtures)
    Client,
    bot_settings,
    client,
    graph_api,
    services,
    tg_api,
    viber_api,
)
from tests.casework.harness import PASSWORD, casework, open_case

EXAMPLES = int(os.environ.get("CASELINE_FUZZ_EXAMPLES", "200"))
TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
KEYS = [
    "username",
    "password",
    "totp",
    "text",
    "service",
    "note",
    "to_user",
    "to_team",
    "outcome",
    "role",
    "teams",
    "update_id",
    "message",
    "object",
    "entry",
    "event",
    "session_id",
]
BODY = st.one_of(
    JSON,
    st.dictionaries(st.sampled_from(KEYS), JSON, max_size=6),
    st.binary(max_size=200),
)


def _fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


async def test_fuzz_api_and_webhooks(
    services: Services,  # noqa: F811
    client: Client,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    cw = casework(services)
    await cw.accounts.create("test", "sup", "supervisor", ["default"], PASSWORD)
    await cw.accounts.create("test", "root", "admin", [], PASSWORD)
    await cw.accounts.create("test", "ana", "case_worker", ["default"], PASSWORD)
    case_id = await open_case(services, "c_fuzz")
    tokens = []
    for name in ("sup", "root"):
        resp = await client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
        tokens.append((await resp.json())["token"])
    routes = sorted(
        (r.method, r.resource.canonical)
        for r in client.app.router.routes()
        if r.resource is not None
        and r.method != "HEAD"
        and r.resource.canonical.startswith(("/api/v1", "/webhooks", "/webchat"))
    )
    assert routes
    loop = asyncio.get_running_loop()
    caplog.set_level(logging.ERROR)
    auth = st.one_of(
        st.just({}),
        st.sampled_from([{"Authorization": f"Bearer {t}"} for t in tokens]),
        st.builds(lambda v: {"Authorization": v}, TEXT),
    )
    extra = st.dictionaries(
        st.sampled_from(
            [
                "X-CSRF-Token",
                "X-Telegram-Bot-Api-Secret-Token",
                "X-Hub-Signature-256",
                "X-Viber-Content-Signature",
                "X-Request-Id",
                "X-Forwarded-For",
                "Content-Type",
                "Cookie",
            ]
        ),
        TEXT,
        max_size=3,
    )
    param = st.one_of(st.sampled_from([case_id, "ana", "sup", "root", "nobody"]), TEXT.filter(lambda s: "/" not in s))

    async def call(method: str, url: str, body: Any, headers: dict[str, str], query: dict[str, str]) -> int:
        kwargs: dict[str, Any] = {"headers": headers, "params": query, "allow_redirects": False}
        if isinstance(body, bytes):
            kwargs["data"] = body
        else:
            kwargs["json"] = body
        resp = await client.request(method, url, **kwargs)
        await resp.read()
        return resp.status

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        route=st.sampled_from(routes),
        method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]) | st.none(),
        params=st.fixed_dictionaries({"id": param, "username": param}),
        body=BODY,
        headers=st.builds(lambda a, b: {**b, **a}, auth, extra),
        query=st.dictionaries(
            st.sampled_from(["status", "since", "limit", "actor", "hub.mode", "session_id"]), TEXT, max_size=3
        ),
    )
    def one(
        route: tuple[str, str],
        method: str | None,
        params: dict[str, str],
        body: Any,
        headers: dict[str, str],
        query: dict[str, str],
    ) -> None:
        url = _fill(route[1], {k: v or "x" for k, v in params.items()})
        if "?" in url or "#" in url:
            return
        future = asyncio.run_coroutine_threadsafe(call(method or route[0], url, body, headers, query), loop)
        status = future.result(timeout=60)
        assert status < 500, (method or route[0], url, body, headers, status)
        unhandled = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not unhandled, unhandled[0].getMessage()

    await loop.run_in_executor(None, one)
