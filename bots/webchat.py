"""The web chat channel: a tiny page, a JSON API with an HTTP fallback, and WebSocket push.

Sessions are issued by the server (``POST /webchat/sessions``) so that an id can't be
guessed; the session id is the platform user id, and the contact id its keyed hash.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from bots.base import SendResult
from caseline.identity import contact_id
from caseline.messages import MAX_TEXT_CHARS, Inbound, Reply
from caseline.pipeline import Pipeline, replies_of
from caseline.store.base import ConversationStore

log = logging.getLogger("caseline.webchat")

STATIC = Path(__file__).parent / "webchat_static"
CHANNEL = "webchat"
MAX_PAYLOAD_CHARS = 256


class WebchatHub:
    """Live sockets per contact in this process; other processes' clients poll."""

    def __init__(self) -> None:
        self.sockets: defaultdict[str, set[web.WebSocketResponse]] = defaultdict(set)

    async def publish(self, contact: str, message: dict[str, Any]) -> None:
        for ws in list(self.sockets.get(contact, ())):
            try:
                await ws.send_json(message)
            except (ConnectionError, RuntimeError):
                self.sockets[contact].discard(ws)


class WebchatSender:
    """Delivery to the web chat is making the reply visible: push it if a socket is open."""

    channel = CHANNEL

    def __init__(self, hub: WebchatHub, hasher: Callable[[str], str]) -> None:
        self.hub = hub
        self.hasher = hasher

    async def send(self, platform_user_id: str, reply: Reply, item_id: int) -> SendResult:
        await self.hub.publish(self.hasher(platform_user_id), {"id": item_id, **reply.to_json()})
        return SendResult.sent()


def _bad(status: type[web.HTTPException], reason: str) -> web.HTTPException:
    return status(text=json.dumps({"error": reason}), content_type="application/json")


class WebchatRoutes:
    def __init__(
        self, pipeline: Pipeline, store: ConversationStore, hub: WebchatHub, secret_key: str
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.hub = hub
        self.secret_key = secret_key

    def contact_of(self, session_id: str) -> str:
        return contact_id(self.secret_key, CHANNEL, session_id)

    def register(self, app: web.Application) -> None:
        app.router.add_get("/", self.index)
        app.router.add_static("/static/", STATIC, name="static")
        app.router.add_post("/webchat/sessions", self.new_session)
        app.router.add_post("/webchat/messages", self.post_message)
        app.router.add_get("/webchat/messages", self.get_messages)
        app.router.add_get("/webchat/ws", self.websocket)

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def new_session(self, request: web.Request) -> web.Response:
        session_id = secrets.token_urlsafe(24)
        await self.store.ensure_conversation(self.contact_of(session_id), CHANNEL, session_id)
        return web.json_response({"session_id": session_id}, status=201)

    async def _known_session(self, session_id: object) -> str:
        if not isinstance(session_id, str) or not session_id or len(session_id) > 128:
            raise _bad(web.HTTPBadRequest, "session_id must be a non-empty string")
        contact = self.contact_of(session_id)
        if await self.store.load_conversation(contact) is None:
            raise _bad(web.HTTPNotFound, "unknown session; create one with POST /webchat/sessions")
        return contact

    async def post_message(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _bad(web.HTTPBadRequest, "body must be JSON") from None
        if not isinstance(body, dict):
            raise _bad(web.HTTPBadRequest, "body must be a JSON object")
        message = await self._inbound(body)
        seq = await self.pipeline.submit(message)
        if seq is None:
            return web.json_response({"replies": [], "duplicate": True})
        items = await self.pipeline.wait_processed(message.contact_id, seq)
        return web.json_response({"replies": replies_of(items)})

    async def _inbound(self, body: dict[str, Any]) -> Inbound:
        contact = await self._known_session(body.get("session_id"))
        text, payload = body.get("text"), body.get("payload")
        if (text is None) == (payload is None):
            raise _bad(web.HTTPBadRequest, "send exactly one of 'text' or 'payload'")
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise _bad(web.HTTPBadRequest, "'text' must be a non-empty string")
        if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
            raise _bad(web.HTTPBadRequest, f"'text' is longer than {MAX_TEXT_CHARS} characters")
        if payload is not None and (not isinstance(payload, str) or not 0 < len(payload) <= MAX_PAYLOAD_CHARS):
            raise _bad(web.HTTPBadRequest, f"'payload' must be a string of 1-{MAX_PAYLOAD_CHARS} characters")
        client_id = body.get("client_message_id") or uuid.uuid4().hex
        if not isinstance(client_id, str) or len(client_id) > 128:
            raise _bad(web.HTTPBadRequest, "'client_message_id' must be a string of at most 128 characters")
        lang = body.get("lang")
        return Inbound(
            channel=CHANNEL,
            platform_user_id=str(body["session_id"]),
            contact_id=contact,
            platform_message_id=f"{body['session_id']}:{client_id}",
            received_at=datetime.now(UTC),
            text=text,
            payload=payload,
            kind="text" if text is not None else "button",
            lang_hint=lang if isinstance(lang, str) and len(lang) <= 8 else None,
        )

    async def get_messages(self, request: web.Request) -> web.Response:
        contact = await self._known_session(request.query.get("session_id"))
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            raise _bad(web.HTTPBadRequest, "'after' must be an integer") from None
        items = await self.store.outbox_since(contact, after)
        return web.json_response({"messages": replies_of(items)})

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        contact = await self._known_session(request.query.get("session_id"))
        ws = web.WebSocketResponse(heartbeat=25.0, max_msg_size=16 * 1024)
        await ws.prepare(request)
        self.hub.sockets[contact].add(ws)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.ERROR:
                    break
        except asyncio.CancelledError:
            raise
        finally:
            self.hub.sockets[contact].discard(ws)
            if not self.hub.sockets[contact]:
                self.hub.sockets.pop(contact, None)
        return ws
