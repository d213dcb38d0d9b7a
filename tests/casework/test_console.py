"""The console's pages: login, queue, case and dashboard; CSP-safe, labelled, small; CSRF enforced."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from caseline.app import Services, create_app
from tests.casework.harness import PASSWORD, add_user, casework, open_case


@pytest.fixture
async def console(make_services: Any, aiohttp_client: Any) -> tuple[Services, TestClient[Any, Any]]:
    services = await make_services()
    await add_user(services, "sam", "supervisor", ["default"])
    client = await aiohttp_client(create_app(services, background=False))
    resp = await client.post("/console/login", data={"username": "sam", "password": PASSWORD},
                             allow_redirects=False)
    assert resp.status == 303
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return services, client


def _check_page(html: str) -> None:
    assert len(html.encode()) < 200_000
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "no inline scripts"
    assert "<style" not in html and " style=" not in html, "no inline styles"
    ids = set(re.findall(r'<label for="([^"]+)"', html))
    for field in re.findall(r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', html):
        assert field in ids, f"#{field} has no label"


async def test_pages_render_without_inline_code(console: tuple[Services, TestClient[Any, Any]]) -> None:
    services, client = console
    case_id = await open_case(services, "c_1")
    for path in ("/console/login", "/console/queue", f"/console/cases/{case_id}", "/console/dashboard"):
        resp = await client.get(path)
        assert resp.status == 200, path
        _check_page(await resp.text())
    dashboard = await (await client.get("/console/dashboard")).text()
    assert dashboard.count("<svg") == 4 and "Open cases by severity" in dashboard


async def test_console_forms_need_the_csrf_token(console: tuple[Services, TestClient[Any, Any]]) -> None:
    services, client = console
    case_id = await open_case(services, "c_1")
    resp = await client.post(f"/console/cases/{case_id}/claim", data={}, allow_redirects=False)
    assert resp.status == 403
    assert (await casework(services).store.get(case_id)).status == "waiting"  # type: ignore[union-attr]
    page = await (await client.get("/console/queue")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    resp = await client.post(f"/console/cases/{case_id}/claim", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    assert (await casework(services).store.get(case_id)).assignee == "sam"  # type: ignore[union-attr]
    resp = await client.post("/api/v1/heartbeat")
    assert resp.status == 403, "cookie sessions need X-CSRF-Token on the API too"
    assert (await client.post("/api/v1/heartbeat", headers={"X-CSRF-Token": csrf})).status == 200


async def test_handling_case_is_one_indexed_lookup(make_services: Any) -> None:
    services = await make_services()
    assert services.backend.sqlite is not None
    rows = await services.backend.sqlite.fetchall(
        "EXPLAIN QUERY PLAN SELECT id, status FROM cases WHERE contact_id = ? AND open = 1", ("c",)
    )
    assert any("cases_open_contact" in str(r["detail"]) for r in rows)


async def test_no_worker_notice_is_sent_once(make_services: Any) -> None:
    services = await make_services()
    case_id = await open_case(services, "c_1", seq=1)
    await open_case(services, "c_1", seq=2)
    texts = [t.text for t in await services.store.transcript("c_1")]
    assert len([t for t in texts if "116 111" in t]) == 1
    assert (await casework(services).store.get(case_id)) is not None
