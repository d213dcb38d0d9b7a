"""Issue 7, must-show 4, through the real web chat in Chromium: a Romanian parent completes
the tantrums path; a Ukrainian child reporting sextortion is offered a person and a case opens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Page, expect

from caseline.app import Services, create_app
from tests.browser import chromium
from tests.casework.harness import casework
from tests.foundation.server import free_port

pytestmark = pytest.mark.browser


@pytest.fixture
async def served(make_services: Any) -> AsyncIterator[tuple[str, Services]]:
    services = await make_services()
    runner = web.AppRunner(create_app(services))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", services
    await runner.cleanup()


async def say(page: Page, text: str) -> None:
    await page.get_by_label("Your message").fill(text)
    await page.get_by_role("button", name="Send").click()


async def choose(page: Page, title: str) -> None:
    await page.locator(".choices button", has_text=title).last.click()


async def bot_said(page: Page, text: str) -> None:
    await expect(page.locator("#log li.bot", has_text=text).last).to_be_visible(timeout=15_000)


async def test_romanian_parent_completes_the_tantrums_path(served: tuple[str, Services]) -> None:
    url, _services = served
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(url + "/")
        await say(page, "salut")
        await choose(page, "Română")
        await bot_said(page, "Ești de acord?")
        await choose(page, "Da, sunt de acord")
        await choose(page, "Părinte/îngrijitor")
        await choose(page, "Sfaturi pentru părinți")
        await choose(page, "Crize de furie")
        await bot_said(page, "Câți ani are copilul tău?")
        await say(page, "3")
        await bot_said(page, "Ți-a fost de folos?")
        await choose(page, "Da 👍")
        await bot_said(page, "Mulțumesc că mi-ai spus.")
        await bot_said(page, "Vrei să vorbești cu o persoană despre asta?")


async def test_ukrainian_child_reporting_sextortion_is_offered_a_person(served: tuple[str, Services]) -> None:
    url, services = served
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(url + "/")
        await say(page, "привіт")
        await choose(page, "Українська")
        await choose(page, "Так, згоден")
        await choose(page, "Підліток")
        await say(page, "якийсь хлопець каже що розішле мої інтимні фото всім якщо я не заплачу")
        offer = page.locator(".choices button", has_text="людин")
        await expect(offer.last).to_be_visible(timeout=15_000)
    cases = await casework(services).store.list_cases(None, ["waiting"])
    assert len(cases) == 1 and "sextortion" in cases[0].categories
    assert cases[0].severity in ("high", "critical")
