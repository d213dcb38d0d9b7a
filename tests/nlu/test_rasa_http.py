"""The Rasa adapter against a local fake Rasa 3 server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from nlu.rasa_http import RasaHttpNlu
from nlu.result import Intent, ParseResult

RASA_ANSWER: dict[str, Any] = {
    "text": "my 4 year old won't sleep",
    "intent": {"id": -4021713423, "name": "parenting_sleep", "confidence": 0.97},
    "entities": [
        {
            "entity": "child_age",
            "start": 3,
            "end": 4,
            "confidence_entity": 0.99,
            "value": "4",
            "extractor": "DIETClassifier",
            "processors": ["EntitySynonymMapper"],
        }
    ],
    "text_tokens": [[0, 2], [3, 4], [5, 9], [10, 13], [14, 19], [20, 25]],
    "intent_ranking": [
        {"id": -4021713423, "name": "parenting_sleep", "confidence": 0.97},
        {"id": 123, "name": "parenting_tantrums", "confidence": 0.02},
    ],
    "response_selector": {"all_retrieval_intents": [], "default": {"response": {}}},
    "message_id": None,
    "metadata": {},
}


class FakeEmbedded:
    def __init__(self) -> None:
        self.calls = 0

    async def parse(self, text: str, lang: str | None = None) -> ParseResult:
        self.calls += 1
        return ParseResult(text, Intent("greet", 1.0))


ServerFactory = Callable[..., Awaitable[TestServer]]


async def _server(aiohttp_server: ServerFactory, mode: str, seen: list[Any]) -> TestServer:
    async def parse(request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization")
        seen.append((dict(request.query), auth, await request.json()))
        if mode == "slow":
            await asyncio.sleep(1.0)
        if mode == "500":
            body = {"version": "3.6.21", "status": "failure", "reason": "ParsingError",
                    "message": "boom", "code": 500}  # fmt: skip
            return web.json_response(body, status=500)
        if mode == "garbage":
            return web.Response(text="<html>not json", content_type="text/html")
        return web.json_response(RASA_ANSWER)

    app = web.Application()
    app.router.add_post("/model/parse", parse)
    return await aiohttp_server(app, host="127.0.0.1")


@pytest.mark.asyncio
async def test_rasa_answer_parsed_leniently(aiohttp_server: ServerFactory) -> None:
    seen: list[Any] = []
    server = await _server(aiohttp_server, "ok", seen)
    fallback = FakeEmbedded()
    nlu = RasaHttpNlu(str(server.make_url("")), fallback, token="s3cret")
    result = await nlu.parse("my 4 year old won't sleep", message_id="m1")
    await nlu.close()
    assert result.intent == Intent("parenting_sleep", 0.97)
    assert result.entity("child_age") == "4" and result.entities[0].confidence == 0.99
    assert [i.name for i in result.intent_ranking] == ["parenting_sleep", "parenting_tantrums"]
    assert nlu.fallbacks == 0 and fallback.calls == 0
    query, auth, body = seen[0]
    assert query == {"token": "s3cret"} and auth is None
    assert body == {"text": "my 4 year old won't sleep", "message_id": "m1"}


@pytest.mark.asyncio
async def test_bearer_token(aiohttp_server: ServerFactory) -> None:
    seen: list[Any] = []
    server = await _server(aiohttp_server, "ok", seen)
    nlu = RasaHttpNlu(str(server.make_url("")), FakeEmbedded(), token="jwt", token_in="bearer")
    await nlu.parse("hi")
    await nlu.close()
    assert seen[0][:2] == ({}, "Bearer jwt")


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["slow", "500", "garbage"])
async def test_failures_fall_back_and_count(
    aiohttp_server: ServerFactory, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = await _server(aiohttp_server, mode, [])
    fallback = FakeEmbedded()
    nlu = RasaHttpNlu(str(server.make_url("")), fallback, timeout_s=0.2)
    first = await nlu.parse("secret words about my child")
    await nlu.parse("more secret words")
    await nlu.close()
    assert first.intent.name == "greet"
    assert nlu.fallbacks == 2 and fallback.calls == 2
    assert "secret" not in caplog.text


@pytest.mark.asyncio
async def test_connection_refused_falls_back() -> None:
    fallback = FakeEmbedded()
    nlu = RasaHttpNlu("http://127.0.0.1:9", fallback, timeout_s=0.2)
    assert (await nlu.parse("hi")).intent.name == "greet"
    await nlu.close()
    assert nlu.fallbacks == 1


@pytest.mark.asyncio
async def test_shared_session_not_closed(aiohttp_server: ServerFactory) -> None:
    import aiohttp

    server = await _server(aiohttp_server, "ok", [])
    async with aiohttp.ClientSession() as session:
        nlu = RasaHttpNlu(str(server.make_url("")), FakeEmbedded(), session=session)
        await nlu.parse("hi")
        await nlu.close()
        assert not session.closed
