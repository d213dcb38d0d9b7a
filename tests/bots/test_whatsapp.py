"""WhatsApp specifics: replies and lists, media and locations, delivery statuses, the 24-hour window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bots.whatsapp import WhatsAppSender, render
from caseline.app import Services
from caseline.identity import contact_id
from caseline.messages import Button, Inbound, Reply
from caseline.store.base import OutboxDraft
from tests.bots.conftest import Client, fixture, settle, wa_signature
from tests.fakes.graph_api import FakeGraphApi

USER = "16505551234"


def _contact(services: Services) -> str:
    return contact_id(services.settings.secret_key, "whatsapp", USER)


async def _post(client: Client, body: dict[str, Any]) -> int:
    raw = json.dumps(body).encode()
    r = await client.post("/webhooks/whatsapp", data=raw, headers={"X-Hub-Signature-256": wa_signature(raw)})
    return r.status


async def test_button_and_list_replies_carry_their_ids_and_locations_their_coordinates(
    client: Client, accepted: list[Inbound]
) -> None:
    for name in ("button_reply", "list_reply", "location"):
        assert await _post(client, fixture("whatsapp", name)) == 200
    got = [(m.kind, m.payload) for m in accepted]
    assert got == [("button", "menu"), ("button", "menu"), ("location", "location:37.483307,-122.148981")]


async def test_media_is_acknowledged_politely_and_not_downloaded(
    client: Client, services: Services, graph_api: FakeGraphApi
) -> None:
    body = fixture("whatsapp", "image")
    body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(int(datetime.now(UTC).timestamp()))
    assert await _post(client, body) == 200
    assert await _post(client, body) == 200
    await settle(services)
    acks = [s for s in graph_api.sent if s["type"] == "text" and "can't open photos" in s["text"]["body"]]
    assert len(acks) == 1
    assert all(method == "messages" for method, _ in graph_api.requests)


async def test_a_late_delivered_status_does_not_overwrite_read(
    client: Client, services: Services, graph_api: FakeGraphApi
) -> None:
    contact = _contact(services)
    await services.store.ensure_conversation(contact, "whatsapp", USER)
    await services.store.update_state(contact, {"last_inbound_at": datetime.now(UTC).isoformat()})
    await services.store.enqueue([OutboxDraft("t1", contact, "whatsapp", USER, Reply("hello"))], [])
    await settle(services)
    wamid = graph_api.sent[0]["wamid"]
    for name in ("status_read", "status_delivered"):
        body = fixture("whatsapp", name)
        body["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = wamid
        assert await _post(client, body) == 200
    (item,) = await services.store.outbox_since(contact)
    assert item.delivery == "read"


async def test_undeliverable_status_marks_the_contact_unreachable(client: Client, services: Services) -> None:
    await services.store.ensure_conversation(_contact(services), "whatsapp", USER)
    assert await _post(client, fixture("whatsapp", "status_failed_undeliverable")) == 200
    conv = await services.store.load_conversation(_contact(services))
    assert conv is not None and conv.state["unreachable"] == "whatsapp"


def test_rendering_degrades_from_buttons_to_list_to_numbered_text() -> None:
    three = Reply("Pick", buttons=tuple(Button(f"p{i}", f"Option {i}") for i in range(3)))
    assert render(three, USER)[0]["interactive"]["type"] == "button"
    five = Reply("Pick", buttons=tuple(Button(f"p{i}", f"Option {i}") for i in range(5)))
    assert render(five, USER)[0]["interactive"]["type"] == "list"
    long_titles = Reply("Pick", buttons=(Button("a", "A title that is far too long for a button"),))
    (text,) = render(long_titles, USER)
    assert text["type"] == "text" and text["text"]["body"] == "Pick\n\n1. A title that is far too long for a button"
    eleven = Reply("Pick", list_items=tuple(Button(f"p{i}", f"Row {i}") for i in range(11)))
    assert render(eleven, USER)[0]["type"] == "text"
    assert len(render(Reply("x" * 9000), USER)) == 3


async def _send(services: Services, reply: Reply, last_inbound: datetime | None) -> Any:
    contact = _contact(services)
    await services.store.ensure_conversation(contact, "whatsapp", USER)
    if last_inbound is not None:
        await services.store.update_state(contact, {"last_inbound_at": last_inbound.isoformat()})
    return await services.senders["whatsapp"].send(USER, reply, 1)


async def test_outside_the_24_hour_window_a_template_carries_the_reply(
    services: Services, graph_api: FakeGraphApi
) -> None:
    result = await _send(services, Reply("Your case worker wrote back.\nCall us any time."),
                         datetime.now(UTC) - timedelta(hours=25))
    assert result.ok
    template = graph_api.sent[-1]["template"]
    assert template["name"] == "caseline_new_message"
    assert template["components"][0]["parameters"][0]["text"] == "Your case worker wrote back. Call us any time."


async def test_error_131047_falls_back_to_the_template(services: Services, graph_api: FakeGraphApi) -> None:
    graph_api.fail_with(131047)
    assert (await _send(services, Reply("hello"), datetime.now(UTC))).ok
    assert [s["type"] for s in graph_api.sent] == ["template"]


async def test_error_codes_decide_retry_unreachable_or_permanent(
    services: Services, graph_api: FakeGraphApi
) -> None:
    now = datetime.now(UTC)
    for code in (130429, 131056, 131000, 1, 2, 131016, 131057):
        graph_api.fail_with(code)
        result = await _send(services, Reply("hello"), now)
        assert not result.ok and not result.permanent, code
    for code in (131008, 131009, 100, 132001):
        graph_api.fail_with(code)
        assert (await _send(services, Reply("hello"), now)).permanent, code
    graph_api.fail_with(131026)
    assert (await _send(services, Reply("hello"), now)).permanent
    conv = await services.store.load_conversation(_contact(services))
    assert conv is not None and conv.state["unreachable"] == "whatsapp"
    graph_api.slow_next("messages", 1, 3.0)
    sender = services.senders["whatsapp"]
    assert isinstance(sender, WhatsAppSender)
    sender.client.timeout = aiohttp.ClientTimeout(total=0.5)
    timed_out = await _send(services, Reply("hello"), now)
    assert not timed_out.ok and not timed_out.permanent


async def test_a_message_this_process_accepted_opens_the_window_without_a_read(
    services: Services, graph_api: FakeGraphApi
) -> None:
    sender = services.senders["whatsapp"]
    assert isinstance(sender, WhatsAppSender)
    contact = _contact(services)
    reads: list[str] = []
    real_state = sender.intake.state

    async def counting_state(c: str) -> dict[str, Any]:
        reads.append(c)
        return await real_state(c)

    sender.intake.state = counting_state  # type: ignore[method-assign]
    # The stored last message is 25 hours old, but this process has just accepted a newer one.
    sender.intake._saw(contact, datetime.now(UTC) - timedelta(minutes=1))
    assert (await _send(services, Reply("hello"), datetime.now(UTC) - timedelta(hours=25))).ok
    assert graph_api.sent[-1]["type"] == "text" and reads == []
    # A memory older than the window proves nothing: the stored time decides (and it is old).
    sender.intake._saw(contact, datetime.now(UTC) - timedelta(hours=30))  # never moves back
    sender.intake.recent[contact] = datetime.now(UTC) - timedelta(hours=30)
    assert (await _send(services, Reply("hello"), datetime.now(UTC) - timedelta(hours=25))).ok
    assert graph_api.sent[-1]["type"] == "template" and reads == [contact]
