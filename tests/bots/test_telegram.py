"""Telegram specifics: callback answers, deep links, blocked users, long messages, polling, set-webhook."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from bots import wiring
from bots.cli import telegram_group
from bots.common import remember_offered
from bots.telegram import callback_key
from caseline.app import Services
from caseline.identity import contact_id
from caseline.messages import Button, Inbound, Reply
from tests.bots.conftest import TG_SECRET, Client, fixture, settle
from tests.fakes.telegram_api import FakeTelegramApi, telegram_error

HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
CHAT = "5120439876"


def _contact(services: Services) -> str:
    return contact_id(services.settings.secret_key, "telegram", CHAT)


async def test_deep_link_start_becomes_a_start_message_with_its_payload(
    client: Client, accepted: list[Inbound]
) -> None:
    assert (await client.post("/webhooks/telegram", json=fixture("telegram", "start_deeplink"),
                              headers=HEADERS)).status == 200
    (inbound,) = accepted
    assert inbound.kind == "start" and inbound.payload == "probation_7Hq2xZ"
    assert inbound.platform_message_id == "123456789:m:5120439876:40"


async def test_every_callback_query_is_answered_and_its_data_is_the_payload(
    client: Client, services: Services, tg_api: FakeTelegramApi, accepted: list[Inbound]
) -> None:
    update = fixture("telegram", "callback_query")
    for _ in range(2):
        assert (await client.post("/webhooks/telegram", json=update, headers=HEADERS)).status == 200
    await tg_api.wait_for(lambda: len(tg_api.answered) == 2)
    assert set(tg_api.answered) == {update["callback_query"]["id"]}
    (inbound,) = accepted
    assert inbound.kind == "button" and inbound.payload == "menu"
    await settle(services)
    assert len(await services.store.outbox_since(_contact(services))) >= 1


async def test_long_payloads_travel_as_a_hash_resolved_from_state(
    client: Client, services: Services, tg_api: FakeTelegramApi, accepted: list[Inbound]
) -> None:
    long_payload = "flow.checkin.answer." + "x" * 80
    await services.store.ensure_conversation(_contact(services), "telegram", CHAT)
    sender = services.senders["telegram"]
    reply = Reply("Pick", buttons=(Button(long_payload, "Long"),))
    assert (await sender.send(CHAT, reply, 1)).ok
    await remember_offered(services.store, _contact(services), reply)  # the outbox's step after a send
    data = tg_api.sent[-1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert data == callback_key(long_payload) and len(data.encode()) <= 64
    update = fixture("telegram", "callback_query")
    update["callback_query"]["data"] = data
    assert (await client.post("/webhooks/telegram", json=update, headers=HEADERS)).status == 200
    assert accepted[-1].payload == long_payload


async def test_long_text_is_split_and_the_keyboard_rides_on_the_last_part(
    services: Services, tg_api: FakeTelegramApi
) -> None:
    await services.store.ensure_conversation(_contact(services), "telegram", CHAT)
    text = ("word " * 2000).strip()
    result = await services.senders["telegram"].send(CHAT, Reply(text, buttons=(Button("a", "A"),)), 7)
    assert result.ok
    assert len(tg_api.sent) == 3 and all(len(s["text"]) <= 4096 for s in tg_api.sent)
    assert " ".join(s["text"] for s in tg_api.sent) == text
    assert [("reply_markup" in s) for s in tg_api.sent] == [False, False, True]


async def test_429_retry_after_is_honoured_and_a_blocked_user_is_unreachable(
    services: Services, tg_api: FakeTelegramApi
) -> None:
    await services.store.ensure_conversation(_contact(services), "telegram", CHAT)
    tg_api.fail_next("sendMessage", 1, 429, telegram_error(429, "Too Many Requests: retry after 7", 7))
    result = await services.senders["telegram"].send(CHAT, Reply("hello"), 1)
    assert not result.ok and not result.permanent and result.retry_after == 7
    tg_api.blocked.add(int(CHAT))
    result = await services.senders["telegram"].send(CHAT, Reply("hello"), 2)
    assert result.permanent and "blocked" in (result.error or "")
    conv = await services.store.load_conversation(_contact(services))
    assert conv is not None and conv.state["unreachable"] == "telegram"


async def test_blocking_and_unblocking_via_my_chat_member(client: Client, services: Services) -> None:
    await services.store.ensure_conversation(_contact(services), "telegram", CHAT)
    update = fixture("telegram", "my_chat_member_kicked")
    assert (await client.post("/webhooks/telegram", json=update, headers=HEADERS)).status == 200
    conv = await services.store.load_conversation(_contact(services))
    assert conv is not None and conv.state["unreachable"] == "telegram"
    update["update_id"] += 1
    update["my_chat_member"]["new_chat_member"]["status"] = "member"
    assert (await client.post("/webhooks/telegram", json=update, headers=HEADERS)).status == 200
    conv = await services.store.load_conversation(_contact(services))
    assert conv is not None and conv.state["unreachable"] is None


async def test_long_polling_feeds_the_same_path(
    client: Client, services: Services, tg_api: FakeTelegramApi
) -> None:
    tg_api.push_update(fixture("telegram", "message_text"))
    stop = asyncio.Event()
    task = asyncio.create_task(wiring.run_telegram_polling(services, stop))
    await tg_api.wait_for(lambda: len(tg_api.sent) >= 1)
    tg_api.push_update(fixture("telegram", "message_text") | {"update_id": 827390299})  # same message again
    await tg_api.wait_for(lambda: any(int(p.get("offset", 0)) == 827390300 for m, p in tg_api.requests
                                      if m == "getUpdates"))
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    await settle(services)
    assert len(tg_api.sent) == 1
    assert any(m == "deleteWebhook" for m, _ in tg_api.requests)


async def test_set_webhook_cli_sends_the_secret(tg_api: FakeTelegramApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASELINE_TELEGRAM_TOKEN", tg_api.token)
    monkeypatch.setenv("CASELINE_TELEGRAM_WEBHOOK_SECRET", TG_SECRET)
    monkeypatch.setenv("CASELINE_TELEGRAM_API_BASE", tg_api.url)
    url = "https://caseline.example.org/webhooks/telegram"
    result = await asyncio.to_thread(CliRunner().invoke, telegram_group, ["set-webhook", url])
    assert result.exit_code == 0, result.output
    assert tg_api.webhooks[-1]["url"] == url
    assert tg_api.webhooks[-1]["secret_token"] == TG_SECRET
