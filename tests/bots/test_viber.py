"""Viber specifics: the one welcome, keyboard replies, unsubscribes and status codes."""

from __future__ import annotations

import json
from typing import Any

from caseline.app import Services
from caseline.identity import contact_id
from caseline.messages import Button, Inbound, Reply
from tests.bots.conftest import Client, counts, fixture, settle, viber_signature
from tests.fakes.viber_api import FakeViberApi

USER = "01234567890A="


def _contact(services: Services) -> str:
    return contact_id(services.settings.secret_key, "viber", USER)


async def _post(client: Client, token: str, body: dict[str, Any]) -> tuple[int, Any]:
    raw = json.dumps(body).encode()
    r = await client.post("/webhooks/viber", data=raw,
                          headers={"X-Viber-Content-Signature": viber_signature(raw, token)})
    return r.status, await r.json()


async def test_conversation_started_gets_one_welcome_and_stores_nothing(
    client: Client, services: Services, viber_api: FakeViberApi
) -> None:
    before = await counts(services)
    status, body = await _post(client, viber_api.token, fixture("viber", "conversation_started"))
    assert status == 200 and body["type"] == "text" and "Caseline" in body["text"]
    assert await counts(services) == before
    assert viber_api.sent == []


async def test_a_keyboard_reply_comes_back_as_its_payload(
    client: Client, services: Services, viber_api: FakeViberApi, accepted: list[Inbound]
) -> None:
    body = fixture("viber", "message_text")
    await _post(client, viber_api.token, body)
    await settle(services)
    keyboard = viber_api.sent[0]["keyboard"]
    assert keyboard["Type"] == "keyboard" and all(b["ActionType"] == "reply" for b in keyboard["Buttons"])
    body["message_token"] += 1
    body["message"]["text"] = keyboard["Buttons"][0]["ActionBody"]
    await _post(client, viber_api.token, body)
    await settle(services)
    assert accepted[-1].text == keyboard["Buttons"][0]["ActionBody"]  # stored as it came
    said = [e.text for e in await services.store.transcript(_contact(services)) if e.direction == "in"]
    assert said[-1] == keyboard["Buttons"][0]["ActionBody"]
    first = viber_api.sent[0]["text"]
    assert viber_api.sent[-1]["text"] != first  # the turn took it as that choice and moved on


async def test_unsubscribe_and_status_6_mark_the_contact_unreachable(
    client: Client, services: Services, viber_api: FakeViberApi
) -> None:
    contact = _contact(services)
    await services.store.ensure_conversation(contact, "viber", USER)
    await _post(client, viber_api.token, fixture("viber", "unsubscribed"))
    conv = await services.store.load_conversation(contact)
    assert conv is not None and conv.state["unreachable"] == "viber"
    await _post(client, viber_api.token, fixture("viber", "subscribed"))
    conv = await services.store.load_conversation(contact)
    assert conv is not None and conv.state["unreachable"] is None
    viber_api.unsubscribed.add(USER)
    result = await services.senders["viber"].send(USER, Reply("hello"), 1)
    assert result.permanent and "receiverNotSubscribed" in (result.error or "")
    conv = await services.store.load_conversation(contact)
    assert conv is not None and conv.state["unreachable"] == "viber"


async def test_status_codes_and_delivery_receipts(
    client: Client, services: Services, viber_api: FakeViberApi
) -> None:
    contact = _contact(services)
    await services.store.ensure_conversation(contact, "viber", USER)
    sender = services.senders["viber"]
    viber_api.fail_status(12)
    assert (r := await sender.send(USER, Reply("hi"), 1)).retry_after and not r.permanent
    viber_api.fail_status(3)
    assert (await sender.send(USER, Reply("hi"), 2)).permanent
    many = Reply("Pick", list_items=tuple(Button(f"p{i}", f"Row {i}") for i in range(30)))
    assert (await sender.send(USER, many, 3)).ok
    assert "keyboard" not in viber_api.sent[-1] and "30. Row 29" in viber_api.sent[-1]["text"]
