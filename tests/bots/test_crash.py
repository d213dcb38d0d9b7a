"""A server killed (SIGKILL) after accepting a webhook still replies, once, after a restart.

The at-least-once boundary: the outbox marks a reply sent only after the platform answered.
If the process dies while a send is in flight, the platform may or may not have received
it; Caseline cannot know and sends again once the lease lapses. The fake counts a send as
delivered only when its answer reached a live caller, so the killed call is "dropped" and
the resend is the one delivery. Against a real platform, a send that reached the platform
just before the kill would be seen twice: that window, between the platform's accept and
our store's "sent", is the one place a duplicate can come from.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.bots.conftest import TG_SECRET, fixture
from tests.fakes.telegram_api import FakeTelegramApi
from tests.foundation.server import ServerProcess, free_port


@pytest.mark.slow
async def test_sigkill_while_a_reply_is_in_flight_sends_it_once_after_restart(
    tmp_path: Path, tg_api: FakeTelegramApi
) -> None:
    env = {"CASELINE_TELEGRAM_TOKEN": tg_api.token, "CASELINE_TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
           "CASELINE_TELEGRAM_API_BASE": tg_api.url, "CASELINE_LEASE_SECONDS": "2"}
    data, port = tmp_path / "var", free_port()
    update = fixture("telegram", "message_text")
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    tg_api.hold()
    first = ServerProcess(data, env=env, port=port)
    await asyncio.to_thread(first.start)
    try:
        async with aiohttp.ClientSession() as http:
            r = await http.post(f"{first.url}/webhooks/telegram", json=update, headers=headers)
            assert r.status == 200
            await asyncio.wait_for(tg_api.holding.wait(), timeout=30)
    finally:
        await asyncio.to_thread(first.kill)
    tg_api.release()
    await tg_api.wait_for(lambda: len(tg_api.dropped) == 1)
    assert tg_api.sent == []

    second = ServerProcess(data, env=env, port=port)
    await asyncio.to_thread(second.start)
    try:
        await tg_api.wait_for(lambda: len(tg_api.sent) == 1, timeout=30)
        async with aiohttp.ClientSession() as http:
            r = await http.post(f"{second.url}/webhooks/telegram", json=update, headers=headers)
            assert r.status == 200
        await asyncio.sleep(1.5)
    finally:
        await asyncio.to_thread(second.stop)
    assert len(tg_api.sent) == 1
    assert int(tg_api.sent[0]["chat_id"]) == update["message"]["chat"]["id"]
    assert tg_api.sent[0]["text"] == tg_api.dropped[0][1]["text"]
