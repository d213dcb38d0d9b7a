"""Forged or missing secrets, malformed JSON, unknown update types and oversized bodies store nothing."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from caseline.app import Services, build_services, create_app
from caseline.pipeline import Stages
from caseline.settings import Settings
from tests.bots.conftest import (
    TG_SECRET,
    WA_VERIFY,
    Client,
    counts,
    fixture,
    viber_signature,
    wa_signature,
)

FUZZ_EXAMPLES = int(os.environ.get("CASELINE_FUZZ_EXAMPLES", "200"))
VB_TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"


def _headers(path: str, raw: bytes) -> dict[str, str]:
    if path == "/webhooks/telegram":
        return {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    if path == "/webhooks/whatsapp":
        return {"X-Hub-Signature-256": wa_signature(raw)}
    return {"X-Viber-Content-Signature": viber_signature(raw, VB_TOKEN)}


def _cases() -> Iterator[tuple[str, bytes, dict[str, str], int, str]]:
    tg = json.dumps(fixture("telegram", "message_text")).encode()
    wa = json.dumps(fixture("whatsapp", "text")).encode()
    vb = json.dumps(fixture("viber", "message_text")).encode()
    yield "/webhooks/telegram", tg, {}, 401, "secret"
    yield "/webhooks/telegram", tg, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}, 401, "secret"
    yield "/webhooks/telegram", tg, {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET + "x"}, 401, "secret"
    yield "/webhooks/telegram", b"{not json", _headers("/webhooks/telegram", b""), 400, "JSON"
    yield "/webhooks/telegram", b"[1,2]", _headers("/webhooks/telegram", b""), 400, "object"
    yield "/webhooks/telegram", b'{"message": {}}', _headers("/webhooks/telegram", b""), 400, "Update"
    yield "/webhooks/whatsapp", wa, {}, 401, "missing"
    yield "/webhooks/whatsapp", wa, {"X-Hub-Signature-256": wa_signature(wa, "forged")}, 403, "does not match"
    yield "/webhooks/whatsapp", wa, {"X-Hub-Signature-256": wa_signature(wa + b" ")}, 403, "does not match"
    yield "/webhooks/whatsapp", wa, {"X-Hub-Signature-256": "sha256="}, 403, "does not match"
    yield "/webhooks/whatsapp", b"{oops", _headers("/webhooks/whatsapp", b"{oops"), 400, "JSON"
    yield "/webhooks/viber", vb, {}, 401, "missing"
    yield "/webhooks/viber", vb, {"X-Viber-Content-Signature": viber_signature(vb, "forged")}, 403, "match"
    yield "/webhooks/viber", b"\xff\xfe", _headers("/webhooks/viber", b"\xff\xfe"), 400, "JSON"
    nested = b"[" * 30_000 + b"]" * 30_000
    yield "/webhooks/whatsapp", nested, _headers("/webhooks/whatsapp", nested), 400, "JSON"
    big = json.dumps({"object": "whatsapp_business_account", "pad": "x" * 70_000}).encode()
    yield "/webhooks/whatsapp", big, _headers("/webhooks/whatsapp", big), 413, "maximum request body size"
    yield "/webhooks/telegram", b"x" * 70_000, _headers("/webhooks/telegram", b""), 413, "maximum request body"


async def test_bad_requests_get_a_clear_4xx_and_store_nothing(client: Client, services: Services) -> None:
    before = await counts(services)
    for path, raw, headers, status, reason in _cases():
        r = await client.post(path, data=raw, headers={"Content-Type": "application/json", **headers})
        assert r.status == status, (path, raw[:40], await r.text())
        assert r.content_type == "application/json"
        assert reason.lower() in (await r.json())["error"].lower()
    assert await counts(services) == before


async def test_authentic_but_unknown_updates_are_acknowledged_and_ignored(
    client: Client, services: Services
) -> None:
    before = await counts(services)
    bodies: list[tuple[str, Any]] = [
        ("/webhooks/telegram", fixture("telegram", "edited_message")),
        ("/webhooks/telegram", fixture("telegram", "group_message")),
        ("/webhooks/telegram", {"update_id": 5, "poll": {"id": "1"}}),
        ("/webhooks/telegram", {"update_id": 6, "business_message_from_the_future": {"x": 1}}),
        ("/webhooks/whatsapp", {"object": "page", "entry": []}),
        ("/webhooks/whatsapp", {"object": "whatsapp_business_account", "entry": [{"changes": [
            {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}]}]}),
        ("/webhooks/whatsapp", {"object": "whatsapp_business_account", "entry": [{"changes": [
            {"field": "messages", "value": {"messages": [{"from": "1", "id": "w1", "type": "reaction",
                                                          "reaction": {"emoji": "👍"}}]}}]}]}),
        ("/webhooks/viber", fixture("viber", "webhook")),
        ("/webhooks/viber", {"event": "client_status", "timestamp": 1}),
        ("/webhooks/viber", fixture("viber", "delivered")),
    ]
    for path, body in bodies:
        raw = json.dumps(body).encode()
        r = await client.post(path, data=raw, headers=_headers(path, raw))
        assert r.status == 200, (path, await r.text())
    assert await counts(services) == before


async def test_whatsapp_verification_handshake(client: Client) -> None:
    ok = {"hub.mode": "subscribe", "hub.verify_token": WA_VERIFY, "hub.challenge": "1158201444"}
    r = await client.get("/webhooks/whatsapp", params=ok)
    assert r.status == 200 and await r.text() == "1158201444"
    for bad in ({**ok, "hub.verify_token": "nope"}, {**ok, "hub.mode": "unsubscribe"}, {"hub.challenge": "1"}):
        r = await client.get("/webhooks/whatsapp", params=bad)
        assert r.status == 403 and "verification failed" in (await r.json())["error"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def _mutate(body: Any, path: list[int], value: Any) -> Any:
    """Replace one nested value of a real payload, so the fuzzer reaches deep into the parsers."""
    if not path or not isinstance(body, dict | list) or not body:
        return value
    keys = list(body) if isinstance(body, dict) else list(range(len(body)))
    key = keys[path[0] % len(keys)]
    body[key] = _mutate(body[key], path[1:], value)
    return body


FUZZ_FIXTURES = [("telegram", "message_text"), ("telegram", "callback_query"), ("whatsapp", "text"),
                 ("whatsapp", "button_reply"), ("whatsapp", "status_read"), ("viber", "message_text"),
                 ("viber", "conversation_started")]
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.tuples(st.sampled_from(FUZZ_FIXTURES), st.lists(st.integers(0, 20), max_size=8), json_values).map(
        lambda t: json.dumps(_mutate(fixture(*t[0]), t[1], t[2])).encode()),
)


@pytest.mark.slow
def test_fuzzed_webhook_bodies_never_cause_a_500(bot_settings: Settings, stages: Stages) -> None:
    loop = asyncio.new_event_loop()
    try:
        services = loop.run_until_complete(build_services(bot_settings, stages=stages))
        client: Client = TestClient(TestServer(create_app(services, background=False)), loop=loop)
        loop.run_until_complete(client.start_server())

        @hsettings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        @given(path=st.sampled_from(["/webhooks/telegram", "/webhooks/whatsapp", "/webhooks/viber"]),
               raw=bodies, signed=st.booleans())
        def post(path: str, raw: bytes, signed: bool) -> None:
            headers = _headers(path, raw) if signed else {}
            r = loop.run_until_complete(client.post(path, data=raw, headers=headers))
            assert r.status < 500, loop.run_until_complete(r.text())
            if r.status >= 400:
                assert "error" in loop.run_until_complete(r.json())

        post()
        loop.run_until_complete(client.close())
        loop.run_until_complete(services.pipeline.close())
    finally:
        loop.close()
