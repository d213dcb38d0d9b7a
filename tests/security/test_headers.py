"""Every console page and API response carries the security headers; no page has inline script or style."""

from __future__ import annotations

import re

from aiohttp import ClientResponse

from casework import api
from tests.casework.harness import PASSWORD, add_user, open_case
from tests.security.conftest import World

INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),  # a script element without src
    re.compile(r"<style\b", re.I),
    re.compile(r"\sstyle\s*=", re.I),
    re.compile(r"\son[a-z]+\s*=", re.I),  # event-handler attributes
    re.compile(r"javascript:", re.I),
]


def check_headers(resp: ClientResponse) -> None:
    csp = resp.headers.get("Content-Security-Policy", "")
    where = f"{resp.method} {resp.url.path} {resp.status}"
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, where
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert resp.headers.get("Referrer-Policy") == "no-referrer", where
    assert resp.headers.get("X-Content-Type-Options") == "nosniff", where
    assert resp.headers.get("X-Frame-Options") == "DENY", where


async def check_page(resp: ClientResponse) -> str:
    check_headers(resp)
    body = await resp.text()
    if resp.content_type == "text/html":
        for pattern in INLINE:
            assert not pattern.search(body), (resp.url.path, pattern.pattern, pattern.search(body))
        assert resp.headers.get("Cache-Control") == "no-store" or resp.status >= 400, resp.url.path
    return body


async def test_console_pages(strict_world: World) -> None:
    w = strict_world
    await add_user(w.services, "sup", "supervisor", ["default"])
    await add_user(w.services, "ana", "case_worker", ["default"])
    case_id = await open_case(w.services, "c_def")
    c = w.client
    await check_page(await c.get("/console/login"))
    await check_page(await c.post("/console/login", data={"username": "ana", "password": "wrong password"}))
    await check_page(await c.get("/console/queue"))  # redirected to the login page
    enrol = await check_page(await c.post("/console/login", data={"username": "sup", "password": PASSWORD}))
    ticket = re.search(r'name="ticket" value="([^"]+)"', enrol).group(1)  # type: ignore[union-attr]
    await check_page(await c.post("/console/login/totp", data={"ticket": ticket, "totp": "000000"}))
    await check_page(await c.post("/console/login/totp", data={"ticket": "nope", "totp": "000000"}))
    csrf = await w.console_login("ana")
    for path in (
        "/console/queue",
        f"/console/cases/{case_id}",
        "/console/cases/nope",
        "/console/dashboard",
        "/console/account",
        "/console/static/console.css",
        "/console/static/console.js",
        "/console/nope",
    ):
        await check_page(await c.get(path))
    await check_page(await c.post(f"/console/cases/{case_id}/claim", data={"csrf": csrf}))
    await check_page(await c.post(f"/console/cases/{case_id}/note", data={"csrf": "wrong", "text": "x"}))
    await check_page(await c.post("/console/account/totp", data={"csrf": csrf}))


async def test_every_api_response(world: World) -> None:
    await add_user(world.services, "sup", "supervisor", ["default"])
    await add_user(world.services, "root", "admin", [])
    case_id = await open_case(world.services, "c_def")
    for headers in ({}, await world.login("sup"), await world.login("root")):
        for method, path, _handler in api.ROUTES:
            if path == "/auth/logout":
                continue
            url = "/api/v1" + path.replace("{id}", case_id).replace("{username}", "nobody")
            await check_page(await world.client.request(method, url, json={}, headers=headers))
    check_headers(await world.client.post("/api/v1/cases/x/notes", data=b"x" * 70_000, headers=headers))
    check_headers(await world.client.get("/healthz"))
