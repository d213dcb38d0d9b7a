"""A local fake of the Telegram Bot API (and the fake-server base the other platform fakes share).

It speaks the real JSON shapes over HTTP on 127.0.0.1 so that aiogram's own client is
exercised. Faults (429s with ``retry_after``, 5xx, slow answers) are queued per method;
a "gate" holds send calls open so a test can kill the server mid-call. Only calls that
were answered to a live connection count as delivered: a call whose caller died while
it was held is recorded in ``dropped`` instead.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from caseline.waiting import wait_set


@dataclass
class Fault:
    status: int
    body: Any
    delay: float = 0.0


@dataclass
class FakePlatformServer:
    """Shared machinery: start/stop on a free loopback port, queued faults, the send gate."""

    faults: dict[str, deque[Fault]] = field(default_factory=dict)
    requests: list[tuple[str, Any]] = field(default_factory=list)
    dropped: list[tuple[str, Any]] = field(default_factory=list)
    gate: asyncio.Event | None = None
    holding: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.app = web.Application()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, handler_cancellation=False, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        if self.gate is not None:
            self.gate.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, method: str, times: int, status: int, body: Any, delay: float = 0.0) -> None:
        self.faults.setdefault(method, deque()).extend(Fault(status, body, delay) for _ in range(times))

    def slow_next(self, method: str, times: int, seconds: float, ok_body: Any = None) -> None:
        """Answer late (a client with a shorter timeout sees a timeout); ``None`` answers normally."""
        self.fail_next(method, times, 0 if ok_body is None else 200, ok_body, delay=seconds)

    def hold(self) -> None:
        """Hold every send call open until :meth:`release`."""
        self.gate = asyncio.Event()
        self.holding.clear()

    def release(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.gate = None

    async def faulted(self, method: str) -> web.Response | None:
        """The injected answer for this call, if any (after any delay)."""
        queue = self.faults.get(method)
        fault = queue.popleft() if queue else None
        if fault is None:
            return None
        await asyncio.sleep(fault.delay)
        return None if fault.status == 0 else web.json_response(fault.body, status=fault.status)

    async def through_gate(self, request: web.Request, method: str, record: Any) -> bool:
        """Wait at the gate; true if the caller is still connected (the call counts as delivered)."""
        if self.gate is not None:
            self.holding.set()
            await self.gate.wait()
        transport = request.transport
        if transport is None or transport.is_closing():
            self.dropped.append((method, record))
            return False
        return True

    async def wait_for(self, predicate: Any, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("fake API: condition not met in time")
            await asyncio.sleep(0.02)


def _decode(form: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in form.items():
        try:
            out[key] = json.loads(value) if value[:1] in "{[" else value
        except ValueError:
            out[key] = value
    return out


@dataclass
class FakeTelegramApi(FakePlatformServer):
    token: str = "123456789:AAHfakeTOKENforTESTSonly_abcdefghijk"
    sent: list[dict[str, Any]] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    updates: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.app.router.add_post("/bot{token}/{method}", self.handle)
        self._ids = itertools.count(1000)
        self.new_updates = asyncio.Event()

    @property
    def bot_id(self) -> int:
        return int(self.token.split(":")[0])

    def push_update(self, update: dict[str, Any]) -> None:
        self.updates.append(update)
        self.new_updates.set()

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = _decode({k: str(v) for k, v in (await request.post()).items()})
        self.requests.append((method, params))
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        injected = await self.faulted(method)
        if injected is not None:
            return injected
        handler = getattr(self, f"m_{method}", None)
        if handler is None:
            return _error(404, "Not Found")
        result: web.Response = await handler(request, params)
        return result

    async def m_getMe(self, request: web.Request, p: dict[str, Any]) -> web.Response:
        return _ok({"id": self.bot_id, "is_bot": True, "first_name": "Caseline", "username": "caseline_test_bot",
                    "can_join_groups": False, "can_read_all_group_messages": False,
                    "supports_inline_queries": False})

    async def m_sendMessage(self, request: web.Request, p: dict[str, Any]) -> web.Response:
        chat_id = int(p["chat_id"])
        if chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if not p.get("text"):
            return _error(400, "Bad Request: message text is empty")
        if len(str(p["text"])) > 4096:
            return _error(400, "Bad Request: message is too long")
        if not await self.through_gate(request, "sendMessage", p):
            return _ok(True)
        message_id = next(self._ids)
        self.sent.append({**p, "message_id": message_id})
        message: dict[str, Any] = {
            "message_id": message_id, "date": int(time.time()), "text": p["text"],
            "chat": {"id": chat_id, "type": "private", "first_name": "Test"},
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "Caseline"},
        }
        if "reply_markup" in p:
            message["reply_markup"] = p["reply_markup"]
        return _ok(message)

    async def m_answerCallbackQuery(self, request: web.Request, p: dict[str, Any]) -> web.Response:
        self.answered.append(str(p["callback_query_id"]))
        return _ok(True)

    async def m_setWebhook(self, request: web.Request, p: dict[str, Any]) -> web.Response:
        self.webhooks.append(p)
        return _ok(True, "Webhook was set")

    async def m_deleteWebhook(self, request: web.Request, p: dict[str, Any]) -> web.Response:
        self.webhooks.append({"deleted": True, **p})
        return _ok(True, "Webhook was deleted")

    async def m_getUpdates(self, request: web.Request, p: dict[str, Any]) -> web.Response:
        offset = int(p.get("offset", 0))
        pending = [u for u in self.updates if u["update_id"] >= offset]
        if not pending:
            self.new_updates.clear()
            await wait_set(self.new_updates, min(float(p.get("timeout", 0)), 1.0))
            pending = [u for u in self.updates if u["update_id"] >= offset]
        return _ok(pending[: int(p.get("limit", 100))])


def _ok(result: Any, description: str | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return web.json_response(body)


def _error(code: int, description: str, retry_after: int | None = None) -> web.Response:
    return web.json_response(telegram_error(code, description, retry_after), status=code)


def telegram_error(code: int, description: str, retry_after: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return body
