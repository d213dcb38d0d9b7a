"""End to end in Chromium: a child's disclosure reaches a worker, who answers and hands back.

The app runs in-process on 127.0.0.1; the child uses the web chat at "/", the worker
the console at "/console". Every action the worker took must be in the audit log.
"""

from __future__ import annotations

import os
import shutil
import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from caseline.app import create_app
from casework.model import AuditQuery
from tests.casework.harness import PASSWORD, add_user, casework

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DISCLOSURE = "my stepdad hits me every night"
WORKER_REPLY = "Hi, I am Ana from the helpline. You did the right thing. Are you safe right now?"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _need_chromium() -> None:
    if os.path.exists(CHROMIUM) or shutil.which("chromium"):
        return
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is required in CI")
    pytest.skip("chromium is not installed")


@pytest.mark.browser
async def test_child_disclosure_to_worker_and_back_to_bot(make_services: Any) -> None:
    _need_chromium()
    from playwright.async_api import async_playwright, expect

    port = _free_port()
    services = await make_services(port=port)
    await add_user(services, "ana", "case_worker", ["default"])
    runner = web.AppRunner(create_app(services))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            child = await (await browser.new_context()).new_page()
            worker = await (await browser.new_context()).new_page()

            await child.goto(base + "/")
            await child.fill("#text", DISCLOSURE)
            await child.press("#text", "Enter")
            await expect(child.locator("#log li.bot").first).to_be_visible(timeout=15000)

            await worker.goto(base + "/console")
            await worker.get_by_label("Username").fill("ana")
            await worker.get_by_label("Password").fill(PASSWORD)
            await worker.get_by_role("button", name="Log in").click()
            first = worker.locator("#queue tbody tr").first
            await expect(first).to_contain_text("high")
            await first.get_by_role("link").click()
            await expect(worker.locator("#transcript")).to_contain_text(DISCLOSURE)
            await worker.get_by_role("button", name="Claim this case").click()
            await worker.get_by_label("Message to the child").fill(WORKER_REPLY)
            await worker.get_by_role("button", name="Send reply").click()
            await expect(worker.locator("#transcript")).to_contain_text(WORKER_REPLY)

            await expect(child.locator("#log")).to_contain_text(WORKER_REPLY, timeout=15000)

            await worker.get_by_label("Outcome").select_option("support_given")
            await worker.get_by_role("button", name="Resolve and hand back to the bot").click()
            await expect(worker.locator(".facts")).to_contain_text("resolved")
            await expect(child.locator("#log")).to_contain_text("handing you back", timeout=15000)

            bot_replies = await child.locator("#log li.bot").count()
            await child.fill("#text", "hello")
            await child.press("#text", "Enter")
            await expect(child.locator("#log li.bot")).to_have_count(bot_replies + 1, timeout=15000)
            await browser.close()

        cw = casework(services)
        case = (await cw.store.list_cases(None, ["resolved"]))[0]
        out = [t for t in await services.store.transcript(case.contact_id) if t.direction == "out"]
        assert out[-1].author == "bot", "the bot answered after the hand-back"
        assert any(t.author == "worker:ana" and t.text == WORKER_REPLY for t in out)

        actions = {(e.actor, e.action, e.target) for e in await cw.store.query_audit(AuditQuery(limit=1000))}
        for expected in [
            ("system", "case.open", case.id),
            ("ana", "login", "ana"),
            ("ana", "case.view", case.id),
            ("ana", "case.claim", case.id),
            ("ana", "case.reply", case.id),
            ("ana", "case.resolve", case.id),
        ]:
            assert expected in actions, expected
        async with aiohttp.ClientSession() as http:
            login = await http.post(
                base + "/api/v1/auth/login", json={"username": "ana", "password": PASSWORD}
            )
            headers = {"Authorization": f"Bearer {(await login.json())['token']}"}
            for method in ("PUT", "PATCH", "DELETE"):
                async with http.request(method, base + "/api/v1/audit", headers=headers) as resp:
                    assert resp.status == 405
    finally:
        await runner.cleanup()
