"""No secret and no message text in logs: a whole flow with a disclosure, logs captured at DEBUG."""

from __future__ import annotations

import logging

import pytest

from tests.casework.harness import PASSWORD, add_user, casework, child_says
from tests.security.conftest import World

DISCLOSURE = "my stepdad hits me every night and I am scared to go home zq7x"
REPLY = "Thank you for telling us, you did the right thing qv3k"
NOTE = "Internal note about the family situation jw9p"


async def test_logs_hold_no_text_password_token_or_secret(
    strict_world: World,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = strict_world
    caplog.set_level(logging.DEBUG)
    # aiosqlite logs every statement with its parameters at DEBUG; caseline.logs.configure must pin it
    # to INFO or above (see test_sql_driver_debug_logging_is_pinned); here we hold our own code to DEBUG.
    monkeypatch.setattr(logging.getLogger("aiosqlite"), "level", logging.INFO)
    await add_user(w.services, "sup", "supervisor", ["default"])
    await w.client.post("/api/v1/auth/login", json={"username": "sup", "password": "a wrong password!"})
    await child_says(w.services, "c_log", DISCLOSURE, 1)
    cases = await casework(w.services).store.list_cases(None)
    assert cases, "the disclosure opened a case"
    case_id = cases[0].id
    secret = await w.enrol("sup")
    code = w.code(secret)
    headers = await w.login("sup", code=code)
    token = headers["Authorization"].removeprefix("Bearer ")
    assert (await w.client.post(f"/api/v1/cases/{case_id}/claim", headers=headers)).status == 200
    assert (await w.client.get(f"/api/v1/cases/{case_id}", headers=headers)).status == 200
    assert (
        await w.client.post(f"/api/v1/cases/{case_id}/messages", json={"text": REPLY}, headers=headers)
    ).status == 202
    assert (await w.client.post(f"/api/v1/cases/{case_id}/notes", json={"text": NOTE}, headers=headers)).status == 201
    await w.client.post(f"/api/v1/cases/{case_id}/notes", data=b"{broken " + DISCLOSURE.encode(), headers=headers)
    await w.client.post("/api/v1/auth/login", json={"username": "sup", "password": PASSWORD, "totp": code})
    await w.client.post("/api/v1/auth/logout", headers=headers)
    await w.client.get("/api/v1/cases", headers=headers)
    logged = "\n".join([caplog.text, *(str(r.args) for r in caplog.records), *(str(vars(r)) for r in caplog.records)])
    assert caplog.records, "the flow logged something"
    for needle in (DISCLOSURE, "zq7x", REPLY, "qv3k", NOTE, "jw9p", PASSWORD, "a wrong password!", token, secret):
        assert needle not in logged, needle


def test_sql_driver_debug_logging_is_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    from caseline.logs import configure

    monkeypatch.setattr(logging.getLogger("aiosqlite"), "level", logging.NOTSET)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure("debug", "text")
        assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
