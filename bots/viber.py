"""Viber REST bot API: a signed webhook and a thin aiohttp sender with reply keyboards.

Viber signs each callback with a hex HMAC-SHA256 of the raw body keyed with the bot token
(``X-Viber-Content-Signature``, no prefix). A keyboard button sends its ``ActionBody`` back
as an ordinary text message, so ``ActionBody`` is the button's payload and the turn maps
it back through the choices last offered to that contact. Viber answers every call with
HTTP 200 and a ``status`` field, which decides retry, unreachable or permanent failure.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiohttp import web

from bots.base import SendResult
from bots.common import (
    Intake,
    PartProgress,
    hmac_hex,
    json_object,
    mark_unreachable,
    platform_time,
    refuse,
    same_secret,
    split_text,
)
from bots.ratelimit import KeyedBuckets, Pacer, TokenBucket
from caseline.messages import Reply

log = logging.getLogger("caseline.viber")

CHANNEL = "viber"
PATH = "/webhooks/viber"
SIGNATURE_HEADER = "X-Viber-Content-Signature"
AUTH_HEADER = "X-Viber-Auth-Token"
MAX_TEXT = 7000
MAX_BUTTONS = 24
SENDER_NAME = "Caseline"
EVENT_TYPES = ["delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"]
WELCOME = (
    "Hello, this is Caseline. You can talk to us here about anything that worries you. "
    "Send any message to start."
)
OK, TOO_MANY_REQUESTS = 0, 12
UNREACHABLE = {5: "receiverNotRegistered", 6: "receiverNotSubscribed", 7: "publicAccountBlocked"}
DELIVERY = {"delivered": "delivered", "seen": "read", "failed": "failed"}


def viber_keyboard(reply: Reply) -> dict[str, Any] | None:
    if not reply.choices:
        return None
    buttons = [{"ActionType": "reply", "ActionBody": b.payload, "Text": b.title, "Columns": 6, "Rows": 1}
               for b in reply.choices]
    return {"Type": "keyboard", "DefaultHeight": False, "Buttons": buttons}


def render(reply: Reply, receiver: str) -> list[dict[str, Any]]:
    """Text split at 7,000 characters; the keyboard rides on the last part, numbered text past 24 choices."""
    keyboard = viber_keyboard(reply) if len(reply.choices) <= MAX_BUTTONS else None
    text = reply.text if keyboard is not None or not reply.choices else reply.as_text()
    parts = split_text(text or "…", MAX_TEXT)
    bodies = [{"receiver": receiver, "min_api_version": 1, "sender": {"name": SENDER_NAME},
               "type": "text", "text": part} for part in parts]
    if keyboard is not None:
        bodies[-1]["keyboard"] = keyboard
    return bodies


def classify(answer: Any) -> SendResult:
    status = answer.get("status") if isinstance(answer, dict) else None
    message = answer.get("status_message", "") if isinstance(answer, dict) else ""
    if status == OK:
        token = answer.get("message_token")
        return SendResult.sent(str(token) if token is not None else None)
    if status == TOO_MANY_REQUESTS:
        return SendResult.retry(f"({status}) {message}", after=1.0)
    if status is None:
        return SendResult.retry("no status in Viber's answer")
    return SendResult.failed(f"({status}) {UNREACHABLE.get(status, message)}")


class ViberClient:
    """POST ``{base}/{endpoint}`` with ``X-Viber-Auth-Token``; one session per process."""

    def __init__(self, base: str, token: str, timeout: float = 15.0) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def call(self, endpoint: str, body: dict[str, Any]) -> tuple[int, Any]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        async with self._session.post(f"{self.base}/{endpoint}", json=body,
                                      headers={AUTH_HEADER: self.token}, timeout=self.timeout) as resp:
            try:
                return resp.status, await resp.json(content_type=None)
            except ValueError:
                return resp.status, None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class ViberSender:
    channel = CHANNEL

    def __init__(self, client: ViberClient, intake: Intake, pacer: Pacer | None = None) -> None:
        self.client = client
        self.intake = intake
        self.pacer = pacer or Pacer(KeyedBuckets(rate=1.0, burst=5.0), TokenBucket(rate=50.0, burst=50.0))
        self.progress = PartProgress()

    async def send(self, platform_user_id: str, reply: Reply, item_id: int) -> SendResult:
        bodies = render(reply, platform_user_id)
        result = SendResult.sent()
        for i in range(self.progress.sent(item_id), len(bodies)):
            result = await self._post(bodies[i])
            if not result.ok:
                return await self._failed(platform_user_id, result)
            self.progress.advance(item_id, i + 1)
        self.progress.finish(item_id)
        return result

    async def _post(self, body: dict[str, Any]) -> SendResult:
        wait = await self.pacer.acquire(str(body["receiver"]))
        if wait is not None:
            return SendResult.retry("paced to the platform's rate limit", after=wait)
        try:
            status, answer = await self.client.call("send_message", body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return SendResult.retry(f"{type(exc).__name__}")
        if status != 200:
            return SendResult.retry(f"HTTP {status}") if status == 429 or status >= 500 else \
                SendResult.failed(f"HTTP {status}")
        return classify(answer)

    async def _failed(self, receiver: str, result: SendResult) -> SendResult:
        if result.permanent and any(name in (result.error or "") for name in UNREACHABLE.values()):
            await mark_unreachable(self.intake.store, self.intake.contact(receiver), CHANNEL)
        return result

    async def close(self) -> None:
        await self.client.close()


class ViberWebhook:
    """``POST /webhooks/viber``: 401 without a signature, 403 for a wrong one, 400 for bad JSON.

    Every authentic callback gets a 200, including event types we ignore, because Viber
    retries anything else. ``conversation_started`` for someone not yet subscribed is
    answered with the one welcome message Viber allows, in the response body; nothing is
    stored until they write to us.
    """

    def __init__(self, intake: Intake, token: str) -> None:
        self.intake = intake
        self.token = token

    def register(self, app: web.Application, path: str = PATH) -> None:
        app.router.add_post(path, self.post)

    async def post(self, request: web.Request) -> web.Response:
        raw = await request.read()
        signature = request.headers.get(SIGNATURE_HEADER)
        if signature is None:
            raise refuse(web.HTTPUnauthorized, f"missing {SIGNATURE_HEADER}")
        if not same_secret(hmac_hex(self.token, raw), signature.lower()):
            raise refuse(web.HTTPForbidden, f"{SIGNATURE_HEADER} does not match the body")
        body = json_object(raw)
        event = body.get("event") if isinstance(body.get("event"), str) else None
        if event == "conversation_started" and not body.get("subscribed"):
            return web.json_response(self._welcome())
        if event == "message":
            await self._message(body)
        elif event in ("subscribed", "unsubscribed") and (uid := _user_id(body)):
            await self.intake.unreachable(uid, reachable=event == "subscribed")
        elif event in DELIVERY and body.get("message_token") is not None:
            await self.intake.store.update_delivery(CHANNEL, str(body["message_token"]), DELIVERY[str(event)])
        return web.json_response({"status": 0})

    def _welcome(self) -> dict[str, Any]:
        return {"sender": {"name": SENDER_NAME}, "type": "text", "text": WELCOME}

    async def _message(self, body: dict[str, Any]) -> None:
        sender, message, token = body.get("sender"), body.get("message"), body.get("message_token")
        if not (isinstance(sender, dict) and isinstance(message, dict) and token is not None):
            return
        uid = sender.get("id")
        if not isinstance(uid, str) or not uid:
            return
        when = platform_time(_seconds(body.get("timestamp")), self.intake.clock())
        lang = sender.get("language") if isinstance(sender.get("language"), str) else None
        kind, text = message.get("type"), message.get("text")
        if kind == "text" and isinstance(text, str):
            await self.intake.submit(uid, str(token), text=text, received_at=when, lang_hint=lang)
        elif kind == "location" and isinstance(message.get("location"), dict):
            where = message["location"]
            await self.intake.submit(uid, str(token), kind="location", received_at=when,
                                     payload=f"location:{where.get('lat')},{where.get('lon')}")
        elif kind in ("picture", "video", "file", "sticker"):
            caption = text if isinstance(text, str) and text else None
            await self.intake.submit(uid, str(token), kind="media", text=caption, received_at=when,
                                     payload=None if caption else f"media:{kind}")


def _user_id(body: dict[str, Any]) -> str | None:
    """``subscribed`` carries a ``user`` object, ``unsubscribed`` only a ``user_id``."""
    user = body.get("user")
    uid = user.get("id") if isinstance(user, dict) else body.get("user_id")
    return uid if isinstance(uid, str) and uid else None


def _seconds(millis: object) -> object:
    """Viber timestamps are in milliseconds."""
    return int(millis) // 1000 if isinstance(millis, int) else millis


async def set_webhook(client: ViberClient, url: str) -> dict[str, Any]:
    status, answer = await client.call("set_webhook", {"url": url, "event_types": EVENT_TYPES,
                                                       "send_name": True, "send_photo": False})
    if status != 200 or not isinstance(answer, dict) or answer.get("status") != OK:
        raise RuntimeError(f"set_webhook failed: HTTP {status} {answer!r}")
    return answer
