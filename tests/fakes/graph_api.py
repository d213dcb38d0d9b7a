"""A local fake of the WhatsApp Cloud API's send endpoint (``POST /{phone_number_id}/messages``).

Answers with the real success and error shapes (``{"error": {"code": 131047, ...}}``) and
records every message it accepted; faults are queued with :meth:`fail_next`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.telegram_api import FakePlatformServer

ERROR_TITLES = {
    131047: "Re-engagement message", 131026: "Message undeliverable", 130429: "Rate limit hit",
    131056: "(Business Account, Consumer Account) pair rate limit hit", 131000: "Something went wrong",
    131008: "Required parameter is missing", 100: "Invalid parameter",
}


def graph_error(code: int, status: int = 400) -> tuple[int, dict[str, Any]]:
    title = ERROR_TITLES.get(code, "Error")
    return status, {"error": {"message": f"(#{code}) {title}", "type": "OAuthException", "code": code,
                              "error_data": {"messaging_product": "whatsapp", "details": title},
                              "fbtrace_id": "AbCdEfGhIjK"}}


@dataclass
class FakeGraphApi(FakePlatformServer):
    phone_number_id: str = "106540352242922"
    access_token: str = "EAAGfakeACCESStoken"
    sent: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.app.router.add_post("/{phone_number_id}/messages", self.messages)
        self._ids = itertools.count(1)

    def fail_with(self, code: int, times: int = 1, status: int = 400) -> None:
        http_status, body = graph_error(code, status)
        self.fail_next("messages", times, http_status, body)

    async def messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(("messages", body))
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return web.json_response(graph_error(190, 401)[1], status=401)
        if request.match_info["phone_number_id"] != self.phone_number_id:
            return web.json_response(graph_error(100)[1], status=400)
        injected = await self.faulted("messages")
        if injected is not None:
            return injected
        if not await self.through_gate(request, "messages", body):
            return web.json_response({})
        wamid = f"wamid.HBgLFAKE{next(self._ids):06d}"
        self.sent.append({**body, "wamid": wamid})
        return web.json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                                  "messages": [{"id": wamid}]})
