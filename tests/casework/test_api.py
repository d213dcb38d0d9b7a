"""The JSON API: its OpenAPI document, the authorization matrix, bad input and the audit log."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from caseline.app import Services, create_app
from casework import api
from casework.access import PERMISSIONS
from casework.model import ROLES
from tests.casework.conftest import open_backend_for
from tests.casework.harness import PASSWORD, add_user, casework, open_case, token

ROUTING = "teams:\n  default: default\n  routes:\n    - {channel: telegram, team: other}\n"


@pytest.fixture(params=["sqlite", "mongo-fake"])
async def world(
    request: pytest.FixtureRequest, make_services: Any, aiohttp_client: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Services, TestClient[Any, Any]]:
    config = tmp_path / "casework.yml"
    config.write_text(ROUTING, encoding="utf-8")
    monkeypatch.setenv("CASELINE_CASEWORK_CONFIG", str(config))
    backend, _close = await open_backend_for(request.param, tmp_path)
    services = await make_services(backend=backend)
    client = await aiohttp_client(create_app(services, background=False))
    return services, client


def _route_paths(client: TestClient[Any, Any]) -> set[tuple[str, str]]:
    found = set()
    for route in client.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/api/v1") and route.method != "HEAD":
            found.add((route.method.lower(), path))
    return found


async def test_openapi_documents_exactly_the_routes(world: tuple[Services, TestClient[Any, Any]]) -> None:
    _services, client = world
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == _route_paths(client)


async def test_audit_log_cannot_be_changed(world: tuple[Services, TestClient[Any, Any]]) -> None:
    services, client = world
    await add_user(services, "sup", "supervisor", ["default"])
    headers = await token(client, "sup")
    for method in ("PUT", "PATCH", "DELETE"):
        for path in ("/api/v1/audit", "/api/v1/audit/1"):
            resp = await client.request(method, path, headers=headers)
            assert resp.status in (404, 405) if path.endswith("/1") else resp.status == 405, (method, path)
    entries = (await (await client.get("/api/v1/audit", headers=headers)).json())["entries"]
    assert entries and entries[0]["action"] == "login"


async def test_bad_input_is_a_clear_4xx_and_writes_nothing(
    world: tuple[Services, TestClient[Any, Any]],
) -> None:
    services, client = world
    await add_user(services, "ana", "case_worker", ["default"])
    headers = await token(client, "ana")
    case_id = await open_case(services, "c_a")
    await client.post(f"/api/v1/cases/{case_id}/claim", headers=headers)
    before = await casework(services).store.get(case_id)
    for path, body in [
        ("messages", {"text": ""}),
        ("messages", {"text": 5}),
        ("notes", {}),
        ("resolve", {"outcome": "gone"}),
        ("transfer", {"to_user": "nobody"}),
        ("transfer", {}),
        ("referrals", {"service": "nope"}),
    ]:
        resp = await client.post(f"/api/v1/cases/{case_id}/{path}", json=body, headers=headers)
        assert resp.status == 400, (path, body)
        assert "error" in await resp.json()
    resp = await client.post(f"/api/v1/cases/{case_id}/notes", data=b"{not json", headers=headers)
    assert resp.status == 400 and (await resp.json())["error"] == "body must be JSON"
    assert await casework(services).store.get(case_id) == before
    assert await services.store.transcript("c_a") == []


async def test_lockout_after_repeated_failures(world: tuple[Services, TestClient[Any, Any]]) -> None:
    services, client = world
    await add_user(services, "ana", "case_worker", ["default"])
    for _ in range(5):
        resp = await client.post(
            "/api/v1/auth/login", json={"username": "ana", "password": "wrong password!"}
        )
        assert resp.status == 401
    resp = await client.post("/api/v1/auth/login", json={"username": "ana", "password": PASSWORD})
    assert resp.status == 401 and "try again later" in (await resp.json())["error"]
    audit = await casework(services).store.query_audit(
        __import__("casework.model").model.AuditQuery(action="login", outcome="failed")
    )
    assert len(audit) == 6


# -- the authorization matrix ------------------------------------------------------------------

USERS = [
    (f"{role.replace('_', '-')}-{team}", role, [team] if role != "admin" else [])
    for role in ROLES
    for team in ("default", "other")
]
CASE_PERMISSION = {
    "/cases/{id}": "case.read",
    "/cases/{id}/export": "case.export",
    "/cases/{id}/claim": "case.claim",
    "/cases/{id}/messages": "case.reply",
    "/cases/{id}/notes": "case.note",
    "/cases/{id}/referrals": "case.refer",
    "/cases/{id}/transfer": "case.transfer",
    "/cases/{id}/resolve": "case.resolve",
}
OTHER_PERMISSION = {
    "/cases": "case.read",
    "/queue/claim": "case.claim",
    "/audit": "audit.read",
    "/users": "users.manage",
    "/users/{username}/disable": "users.manage",
    "/users/{username}/enable": "users.manage",
    "/users/{username}/password": "users.manage",
    "/users/{username}/sessions": "users.manage",
    "/users/{username}/totp": "users.manage",
}
PUBLIC = {"/auth/login", "/auth/totp/enrol", "/auth/logout", "/heartbeat", "/openapi.json"}
VALID_BODY: dict[str, dict[str, Any]] = {
    "/cases/{id}/messages": {"text": "hello"},
    "/cases/{id}/notes": {"text": "a note"},
    "/cases/{id}/referrals": {"service": "helpline"},
    "/cases/{id}/transfer": {"to_team": "default"},
    "/cases/{id}/resolve": {"outcome": "support_given"},
    "/users": {"username": "newbie", "role": "case_worker", "teams": ["default"], "password": PASSWORD},
    "/users/{username}/password": {"password": "another long password"},
}


def test_matrix_covers_every_route() -> None:
    assert {p for _m, p, _h in api.ROUTES} == set(CASE_PERMISSION) | set(OTHER_PERMISSION) | PUBLIC
    assert set(CASE_PERMISSION.values()) | set(OTHER_PERMISSION.values()) <= set(PERMISSIONS)


async def _snapshot(services: Services, case_ids: list[str]) -> str:
    cw = casework(services)
    cases = [(await cw.store.get(c)) for c in case_ids]
    users = await cw.store.list_users()
    transcripts = [await services.store.transcript(c.contact_id) for c in cases if c]
    return json.dumps(
        [
            [c.to_json() for c in cases if c],
            [u.public() for u in users],
            [[t.text for t in ts] for ts in transcripts],
        ],
        default=str,
    )


async def test_authorization_matrix(world: tuple[Services, TestClient[Any, Any]]) -> None:
    """Every route x role x team: a refused call answers 403/404 and changes nothing."""
    services, client = world
    for username, role, teams in USERS:
        await add_user(services, username, role, teams)
    cases = {
        "default": await open_case(services, "c_def"),
        "other": await open_case(services, "c_oth", "telegram"),
    }
    assert (await casework(services).store.get(cases["other"])).team == "other"  # type: ignore[union-attr]
    headers = {u: await token(client, u) for u, _r, _t in USERS}
    allowed_calls: list[tuple[str, str, str]] = []
    for method, path, _handler in api.ROUTES:
        if path in PUBLIC:
            continue
        for username, role, teams in USERS:
            permitted = role in PERMISSIONS[CASE_PERMISSION.get(path) or OTHER_PERMISSION[path]]
            for team, case_id in cases.items() if path in CASE_PERMISSION else [("-", "")]:
                url = "/api/v1" + path.replace("{id}", case_id).replace("{username}", "case-worker-default")
                if permitted and (team == "-" or team in teams):
                    allowed_calls.append((method, url, username))
                    continue
                before = await _snapshot(services, list(cases.values()))
                resp = await client.request(
                    method, url, json=VALID_BODY.get(path, {}), headers=headers[username]
                )
                assert resp.status in (403, 404), (method, url, username, resp.status)
                assert await _snapshot(services, list(cases.values())) == before, (method, url, username)
    denied = await casework(services).store.query_audit(
        __import__("casework.model").model.AuditQuery(outcome="denied", limit=1000)
    )
    assert len(denied) > 50
    for method, url, username in allowed_calls:
        if method == "GET":
            resp = await client.get(url, headers=headers[username])
            assert resp.status == 200, (url, username, resp.status)
            if url.endswith("/cases"):
                teams = next(t for u, _r, t in USERS if u == username)
                assert {c["team"] for c in (await resp.json())["cases"]} <= set(teams)


async def test_queue_lists_only_own_teams(world: tuple[Services, TestClient[Any, Any]]) -> None:
    services, client = world
    await add_user(services, "ana", "case_worker", ["other"])
    await open_case(services, "c_def")
    other = await open_case(services, "c_oth", "telegram")
    body = await (await client.get("/api/v1/cases", headers=await token(client, "ana"))).json()
    assert [c["id"] for c in body["cases"]] == [other]
    assert not re.search(r"c_def|c_oth", json.dumps(body)), "the queue doesn't expose contact ids"
