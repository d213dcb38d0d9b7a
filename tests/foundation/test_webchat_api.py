"""The web chat's HTTP API: replies, de-duplication, bad input, restarts."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from caseline.app import Services, build_services, create_app
from caseline.identity import contact_id
from caseline.pipeline import Stages
from caseline.settings import Settings
from tests.foundation.conftest import new_session

Client = TestClient[Any, Any]


async def _counts(services: Services) -> tuple[int, int, int]:
    db = services.backend.sqlite
    assert db is not None
    rows = [await db.fetchone(f"SELECT COUNT(*) AS n FROM {t}") for t in ("inbound", "outbox", "transcript")]
    return tuple(int(r["n"]) for r in rows if r is not None)  # type: ignore[return-value]


async def test_hi_gets_a_reply_and_health_is_green(client: Client) -> None:
    sid = await new_session(client)
    r = await client.post("/webchat/messages", json={"session_id": sid, "text": "hi"})
    assert r.status == 200
    body = await r.json()
    assert body["replies"] and all(isinstance(x["text"], str) and x["text"] for x in body["replies"])
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200


async def test_same_platform_message_id_twice_gives_one_reply(client: Client, services: Services) -> None:
    sid = await new_session(client)
    msg = {"session_id": sid, "text": "hi", "client_message_id": "abc-1"}
    first = await (await client.post("/webchat/messages", json=msg)).json()
    second = await (await client.post("/webchat/messages", json=msg)).json()
    assert len(first["replies"]) >= 1
    assert second == {"replies": [], "duplicate": True}
    later = await (await client.get("/webchat/messages", params={"session_id": sid})).json()
    assert [m["id"] for m in later["messages"]] == [m["id"] for m in first["replies"]]


async def test_button_payload_is_accepted(client: Client) -> None:
    sid = await new_session(client)
    r = await client.post("/webchat/messages", json={"session_id": sid, "payload": "menu"})
    assert r.status == 200


async def test_bad_input_is_refused_with_a_reason_and_writes_nothing(client: Client, services: Services) -> None:
    sid = await new_session(client)
    before = await _counts(services)
    cases: list[tuple[dict[str, Any] | str | bytes, int, str]] = [
        (b"{not json", 400, "JSON"),
        ("[1, 2]", 400, "object"),
        ({"text": "hi"}, 400, "session_id"),
        ({"session_id": sid}, 400, "exactly one"),
        ({"session_id": sid, "text": "hi", "payload": "x"}, 400, "exactly one"),
        ({"session_id": sid, "text": "   "}, 400, "non-empty"),
        ({"session_id": sid, "text": 42}, 400, "non-empty"),
        ({"session_id": sid, "text": "x" * 4097}, 400, "4096"),
        ({"session_id": sid, "payload": "p" * 300}, 400, "payload"),
        ({"session_id": "no-such-session", "text": "hi"}, 404, "unknown session"),
        (b"x" * (1024 * 1024), 413, "maximum request body size"),
    ]
    for body, status, reason in cases:
        if isinstance(body, dict):
            r = await client.post("/webchat/messages", json=body)
        else:
            r = await client.post("/webchat/messages", data=body, headers={"Content-Type": "application/json"})
        assert r.status == status, (body if not isinstance(body, bytes) else body[:20], await r.text())
        assert r.content_type == "application/json"
        assert reason.lower() in (await r.json())["error"].lower()
    r = await client.get("/webchat/messages", params={"session_id": "nope"})
    assert r.status == 404
    r = await client.get("/webchat/messages", params={"session_id": sid, "after": "x"})
    assert r.status == 400
    assert await _counts(services) == before


async def test_conversation_survives_a_restart(settings: Settings, stages: Stages) -> None:
    first = await build_services(settings, stages=stages)
    async with TestClient(TestServer(create_app(first))) as c:
        sid = await new_session(c)
        for text in ("hi", "hello", "thanks"):
            assert (await c.post("/webchat/messages", json={"session_id": sid, "text": text})).status == 200
        before = await (await c.get("/webchat/messages", params={"session_id": sid})).json()
    second = await build_services(settings, stages=stages)
    async with TestClient(TestServer(create_app(second))) as c:
        after = await (await c.get("/webchat/messages", params={"session_id": sid})).json()
        assert after == before and len(after["messages"]) >= 3
        r = await c.post("/webchat/messages", json={"session_id": sid, "text": "hi"})
        assert r.status == 200
        conv = await second.store.load_conversation(contact_id(settings.secret_key, "webchat", sid))
        assert conv is not None and conv.state["turns"] == 4
