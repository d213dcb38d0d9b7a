"""A local fake of the Viber REST bot API: ``send_message``, ``set_webhook``, ``get_account_info``.

Like Viber it answers HTTP 200 with a ``status`` field for application errors (12 for too
many requests, 6 for a receiver who is not subscribed); faults are queued per endpoint.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.telegram_api import FakePlatformServer

STATUS_MESSAGES = {0: "ok", 2: "invalidAuthToken", 5: "receiverNotRegistered", 6: "receiverNotSubscribed",
                   7: "publicAccountBlocked", 12: "tooManyRequests"}


def viber_status(status: int) -> dict[str, Any]:
    return {"status": status, "status_message": STATUS_MESSAGES.get(status, "error")}


@dataclass
class FakeViberApi(FakePlatformServer):
    token: str = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
    sent: list[dict[str, Any]] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    unsubscribed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("send_message", "set_webhook", "get_account_info"):
            self.app.router.add_post(f"/{name}", self.handle)
        self._tokens = itertools.count(5_000_000_000_000_000_000)

    def fail_status(self, status: int, times: int = 1) -> None:
        self.fail_next("send_message", times, 200, viber_status(status))

    async def handle(self, request: web.Request) -> web.Response:
        endpoint = request.path.strip("/")
        body = await request.json()
        self.requests.append((endpoint, body))
        if request.headers.get("X-Viber-Auth-Token") != self.token:
            return web.json_response(viber_status(2))
        injected = await self.faulted(endpoint)
        if injected is not None:
            return injected
        if endpoint == "set_webhook":
            self.webhooks.append(body)
            return web.json_response({**viber_status(0), "event_types": body.get("event_types", [])})
        if endpoint == "get_account_info":
            return web.json_response({**viber_status(0), "id": "pa:75346594275468546724", "name": "Caseline",
                                      "uri": "caseline", "subscribers_count": 1})
        if body.get("receiver") in self.unsubscribed:
            return web.json_response(viber_status(6))
        if not await self.through_gate(request, endpoint, body):
            return web.json_response(viber_status(0))
        token = next(self._tokens)
        self.sent.append({**body, "message_token": token})
        return web.json_response({**viber_status(0), "message_token": token, "chat_hostname": "SN-CHAT-05_"})
