"""`caseline demo` (what `make demo` runs) serves a web chat that a real browser can use."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from tests.browser import chromium
from tests.foundation.server import ServerProcess

pytestmark = pytest.mark.browser


async def test_demo_web_chat_answers_hi_in_chromium(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "var", env={"CASELINE_SECRET_KEY": ""}) as server:
        async with chromium() as browser:
            page = await browser.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            await page.goto(server.url + "/")
            assert await page.get_by_role("button", name="Quick exit: leave this page now").is_visible()
            await page.get_by_label("Your message").fill("hi")
            await page.get_by_role("button", name="Send").click()
            bot = page.locator("#log li.bot").first
            await bot.wait_for(timeout=15_000)
            assert (await bot.inner_text()).strip()
            # Page weight for a cheap phone on a poor connection: under 60 KB.
            assert _weight(server.url) < 60 * 1024
            assert all(u.startswith(server.url) for u in requests), "the page must not call out"
        assert (tmp_path / "var" / "secret_key").exists()  # the demo generated its own key


def _weight(base: str) -> int:
    total = 0
    for path in ("/", "/static/chat.js", "/static/chat.css"):
        with urllib.request.urlopen(base + path) as r:
            total += len(r.read())
    return total
