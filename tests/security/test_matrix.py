"""The authorization matrix, extended: every API route refuses expired, idle and revoked sessions,
disabled users, cookie sessions without their CSRF token, and logins missing the second factor;
every refusal changes nothing and leaves an audit entry."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from casework import api
from casework.accounts import token_hash
from casework.model import AuditQuery, Session
from tests.casework.harness import PASSWORD, add_user, open_case
from tests.casework.test_api import PUBLIC, VALID_BODY, _snapshot
from tests.security.conftest import World

ADMIN_ROUTES = {p for _m, p, _h in api.ROUTES if p.startswith("/users")}


def _url(path: str, case_id: str) -> str:
    return "/api/v1" + path.replace("{id}", case_id).replace("{username}", "ana")


def _actor(path: str) -> str:
    return "root" if path in ADMIN_ROUTES or path == "/audit" else "sup"


async def _denials(world: World) -> int:
    return len(await world.cw.store.query_audit(AuditQuery(outcome="denied", limit=100_000)))


async def _planted(world: World, username: str, created_ago: timedelta, expires_in: timedelta) -> dict[str, str]:
    token = secrets.token_urlsafe(32)
    now = world.clock()
    await world.cw.store.add_session(
        Session(token_hash(token), username, "csrf", "bearer", now - created_ago, now + expires_in)
    )
    return {"Authorization": f"Bearer {token}"}


async def _refused(
    world: World, cases: list[str], method: str, url: str, path: str, headers: dict[str, str], statuses: tuple[int, ...]
) -> None:
    before, denied = await _snapshot(world.services, cases), await _denials(world)
    resp = await world.client.request(method, url, json=VALID_BODY.get(path, {}), headers=headers)
    assert resp.status in statuses, (method, url, resp.status, await resp.text())
    assert await _snapshot(world.services, cases) == before, (method, url)
    assert await _denials(world) > denied, ("not audited", method, url)


async def test_every_route_refuses_bad_sessions(world: World) -> None:
    await add_user(world.services, "root", "admin", [])
    await add_user(world.services, "sup", "supervisor", ["default"])
    await add_user(world.services, "ana", "case_worker", ["default"])
    case_id = await open_case(world.services, "c_def")
    cases = [case_id]
    for method, path, _handler in api.ROUTES:
        if path in PUBLIC:
            continue
        url, actor = _url(path, case_id), _actor(path)
        # absolutely expired, and idle
        for created, expires in (
            (timedelta(hours=11), -timedelta(hours=1)),
            (timedelta(minutes=31), timedelta(hours=9)),
        ):
            await _refused(world, cases, method, url, path, await _planted(world, actor, created, expires), (401,))
        # revoked (logged out elsewhere, or by an admin)
        headers = await world.login(actor)
        await world.cw.store.delete_sessions(username=actor)
        await _refused(world, cases, method, url, path, headers, (401,))
        # a session that outlived its user being disabled (written straight to the store)
        headers = await world.login(actor)
        await world.cw.store.update_user(actor, disabled=True)
        await _refused(world, cases, method, url, path, headers, (401,))
        await world.cw.store.update_user(actor, disabled=False)
        # a forged token
        await _refused(world, cases, method, url, path, {"Authorization": "Bearer " + "A" * 43}, (401,))


async def test_cookie_sessions_need_the_csrf_token(world: World) -> None:
    await add_user(world.services, "root", "admin", [])
    await add_user(world.services, "sup", "supervisor", ["default"])
    await add_user(world.services, "ana", "case_worker", ["default"])
    case_id = await open_case(world.services, "c_def")
    for method, path, _handler in api.ROUTES:
        if path in PUBLIC or method == "GET":
            continue
        world.client.session.cookie_jar.clear()
        csrf = await world.console_login(_actor(path))
        url = _url(path, case_id)
        for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": csrf[:-1]}):
            await _refused(world, [case_id], method, url, path, headers, (403,))
        entries = await world.cw.store.query_audit(AuditQuery(action="csrf", outcome="denied", limit=3))
        assert entries and entries[0].target == url


async def test_second_factor_gates_every_route(strict_world: World) -> None:
    w = strict_world
    await add_user(w.services, "root", "admin", [])
    await add_user(w.services, "sup", "supervisor", ["default"])
    await add_user(w.services, "ana", "case_worker", ["default"])
    secret = await w.enrol("sup")
    await w.login("sup", code=w.code(secret))
    case_id = await open_case(w.services, "c_def")
    attempts: list[dict[str, Any]] = [
        {"username": "sup", "password": PASSWORD},
        {"username": "sup", "password": PASSWORD, "totp": "123456"},
        {"username": "sup", "password": PASSWORD, "totp": w.code(secret)},  # replayed
        {"username": "root", "password": PASSWORD},  # required, not enrolled
    ]
    for body in attempts:
        resp = await w.client.post("/api/v1/auth/login", json=body)
        assert resp.status in (401, 403) and "token" not in await resp.json(), body
    failed = await w.cw.store.query_audit(AuditQuery(action="login", outcome="failed"))
    assert len(failed) >= 3
    for method, path, _handler in api.ROUTES:
        if path in PUBLIC:
            continue
        resp = await w.client.request(method, _url(path, case_id), json=VALID_BODY.get(path, {}))
        assert resp.status == 401, (method, path)
