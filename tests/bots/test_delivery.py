"""Every platform, through its real HTTP webhook to its fake API: replies, de-duplication, outages."""

from __future__ import annotations

from typing import Any

from caseline.app import Services
from caseline.messages import Inbound
from tests.bots.conftest import Client, Platform, settle
from tests.fakes.graph_api import graph_error
from tests.fakes.telegram_api import telegram_error
from tests.fakes.viber_api import viber_status


def _choices_shown(platform: Platform, sent: dict[str, Any]) -> list[str]:
    """The button payloads a sent message carries, in the platform's own shape."""
    if platform.name == "telegram":
        return [row[0]["callback_data"] for row in sent["reply_markup"]["inline_keyboard"]]
    if platform.name == "whatsapp":
        interactive = sent["interactive"]
        if interactive["type"] == "button":
            return [b["reply"]["id"] for b in interactive["action"]["buttons"]]
        return [r["id"] for s in interactive["action"]["sections"] for r in s["rows"]]
    return [b["ActionBody"] for b in sent["keyboard"]["Buttons"]]


async def test_a_message_gets_a_reply_with_buttons_and_a_duplicate_gets_none(
    client: Client, services: Services, platform: Platform
) -> None:
    r = await platform.post_text(client, "hi", 1)
    assert r.status == 200, await r.text()
    await settle(services)
    items = await services.store.outbox_since(platform.contact(services))
    assert items and [i.status for i in items] == ["sent"] * len(items)
    assert len(platform.sent) == len(items)
    assert [platform.sent_id(s) for s in platform.sent] == [i.platform_message_id for i in items]
    language_question = items[0].reply
    assert _choices_shown(platform, platform.sent[0]) == [b.payload for b in language_question.choices]

    again = await platform.post_text(client, "hi", 1)
    assert again.status == 200
    await settle(services)
    assert len(platform.sent) == len(items)


async def test_a_typed_number_means_the_numbered_choice(
    client: Client, services: Services, platform: Platform, accepted: list[Inbound]
) -> None:
    await platform.post_text(client, "hi", 1)
    await settle(services)
    offered = (await services.store.outbox_since(platform.contact(services)))[0].reply.choices
    await platform.post_text(client, "2", 2)
    await settle(services)
    last = accepted[-1]
    assert (last.kind, last.text) == ("text", "2")  # stored as typed; the turn maps it
    contact = platform.contact(services)
    said = [e.text for e in await services.store.transcript(contact) if e.direction == "in"]
    assert said == ["hi", offered[1].payload]
    conv = await services.store.load_conversation(contact)
    assert conv is not None and conv.state["offered_choices"] != [[b.payload, b.title] for b in offered]


def _outage(platform: Platform) -> None:
    api = platform.api
    if platform.name == "telegram":
        api.fail_next("sendMessage", 2, 429, telegram_error(429, "Too Many Requests: retry after 1", 1))
        api.fail_next("sendMessage", 2, 502, telegram_error(502, "Bad Gateway"))
    elif platform.name == "whatsapp":
        api.fail_next("messages", 2, *graph_error(130429))
        api.fail_next("messages", 1, 503, {"error": {"message": "Service Unavailable"}})
        api.fail_next("messages", 1, 500, None)
    else:
        api.fail_next("send_message", 2, 200, viber_status(12))
        api.fail_next("send_message", 2, 500, {"status_message": "internal error"})


async def test_an_outage_delays_replies_but_each_arrives_once_and_in_order(
    client: Client, services: Services, platform: Platform
) -> None:
    _outage(platform)
    for n, text in enumerate(["hi", "1", "hello"], start=1):
        assert (await platform.post_text(client, text, n)).status == 200
    await settle(services, timeout=60)
    items = await services.store.outbox_since(platform.contact(services))
    assert len(items) >= 3 and all(i.status == "sent" for i in items)
    assert [platform.sent_id(s) for s in platform.sent] == [i.platform_message_id for i in items]
    assert len({platform.sent_id(s) for s in platform.sent}) == len(items)
