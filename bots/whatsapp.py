"""WhatsApp Cloud API: the webhook (verification handshake, signed notifications) and a thin sender.

The signature is checked over the raw bytes before anything is parsed, because Meta signs
the bytes it sent, not any re-serialisation. Authentic notifications always get a 200,
even ones we cannot use: Meta retries anything else for seven days. Sending is a small
aiohttp client of our own (about one endpoint), with the 24-hour customer-service window
tracked from the conversation's ``last_inbound_at`` and a template outside it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml
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
from caseline.messages import InboundKind, Reply

log = logging.getLogger("caseline.whatsapp")

CHANNEL = "whatsapp"
PATH = "/webhooks/whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
WINDOW = timedelta(hours=24) - timedelta(minutes=1)
MAX_TEXT, MAX_BUTTON_BODY, MAX_TEMPLATE_PARAM = 4096, 1024, 1024
MAX_BUTTONS, MAX_BUTTON_TITLE, MAX_BUTTON_ID = 3, 20, 256
MAX_ROWS, MAX_ROW_TITLE, MAX_ROW_ID, MAX_LIST_BUTTON = 10, 24, 200, 20
MEDIA = ("image", "audio", "video", "document", "sticker")
TEMPLATES = Path(__file__).with_name("whatsapp_templates.yml")

# Error codes from the Cloud API reference: what each means for a retry.
RETRY_AFTER = {130429: 1.0, 131056: 6.0, 131057: 30.0, 4: 60.0, 80007: 60.0}
RETRY = {131000, 1, 2, 131016, *RETRY_AFTER}
OUTSIDE_WINDOW = 131047
UNDELIVERABLE = 131026


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    language: str

    @classmethod
    def load(cls, path: Path = TEMPLATES) -> Template:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))["outside_window"]
        return cls(str(data["name"]), str(data["language"]))


def in_window(state: dict[str, Any], now: datetime) -> bool:
    try:
        last = datetime.fromisoformat(str(state["last_inbound_at"]))
    except (KeyError, ValueError):
        return False
    return now - last < WINDOW


def _envelope(to: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": kind,
            kind: content}


def _fits_buttons(reply: Reply) -> bool:
    titles = [b.title for b in reply.buttons]
    return (0 < len(reply.buttons) <= MAX_BUTTONS and not reply.list_items
            and 0 < len(reply.text) <= MAX_BUTTON_BODY and len(set(titles)) == len(titles)
            and all(0 < len(b.title) <= MAX_BUTTON_TITLE and len(b.payload) <= MAX_BUTTON_ID
                    for b in reply.buttons))


def _fits_list(reply: Reply) -> bool:
    return (0 < len(reply.choices) <= MAX_ROWS and 0 < len(reply.text) <= MAX_TEXT
            and all(0 < len(b.title) <= MAX_ROW_TITLE and len(b.payload) <= MAX_ROW_ID
                    for b in reply.choices))


def render(reply: Reply, to: str) -> list[dict[str, Any]]:
    """Reply buttons (up to 3), else a list (up to 10 rows), else numbered text split at 4,096."""
    if _fits_buttons(reply):
        buttons = [{"type": "reply", "reply": {"id": b.payload, "title": b.title}} for b in reply.buttons]
        return [_envelope(to, "interactive", {"type": "button", "body": {"text": reply.text},
                                              "action": {"buttons": buttons}})]
    if _fits_list(reply):
        rows = [{"id": b.payload, "title": b.title} for b in reply.choices]
        action = {"button": (reply.list_button or "Options")[:MAX_LIST_BUTTON], "sections": [{"rows": rows}]}
        return [_envelope(to, "interactive", {"type": "list", "body": {"text": reply.text}, "action": action})]
    return [_envelope(to, "text", {"preview_url": False, "body": part})
            for part in split_text(reply.as_text(), MAX_TEXT)]


def render_template(template: Template, reply: Reply, to: str) -> dict[str, Any]:
    """Template parameters may not hold newlines or runs of spaces, so the text is flattened."""
    text = " ".join(reply.as_text().split())
    if len(text) > MAX_TEMPLATE_PARAM:
        text = text[: MAX_TEMPLATE_PARAM - 1] + "…"
    return _envelope(to, "template", {
        "name": template.name, "language": {"policy": "deterministic", "code": template.language},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": text}]}],
    })


def classify(status: int, body: Any) -> tuple[int | None, SendResult]:
    """(error code, outcome) for a Graph API error answer."""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    code = code if isinstance(code, int) else None
    text = f"({code}) {error.get('message', '')}" if isinstance(error, dict) else f"HTTP {status}"
    if code in RETRY or (code is None and (status == 429 or status >= 500)):
        return code, SendResult.retry(text, after=RETRY_AFTER.get(code or 0))
    return code, SendResult.failed(text)


class GraphClient:
    """POST ``{base}/{phone_number_id}/messages`` with a bearer token; one session per process."""

    def __init__(self, base: str, phone_number_id: str, token: str, timeout: float = 15.0) -> None:
        self.url = f"{base.rstrip('/')}/{phone_number_id}/messages"
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, body: dict[str, Any]) -> tuple[int, Any]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self._session.post(self.url, json=body, headers=headers, timeout=self.timeout) as resp:
            try:
                return resp.status, await resp.json(content_type=None)
            except ValueError:
                return resp.status, None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class WhatsAppSender:
    channel = CHANNEL

    def __init__(self, client: GraphClient, intake: Intake, template: Template,
                 pacer: Pacer | None = None) -> None:
        self.client = client
        self.intake = intake
        self.template = template
        self.pacer = pacer or Pacer(KeyedBuckets(rate=1.0, burst=5.0), TokenBucket(rate=80.0, burst=80.0))
        self.progress = PartProgress()

    async def send(self, platform_user_id: str, reply: Reply, item_id: int) -> SendResult:
        contact = self.intake.contact(platform_user_id)
        now = self.intake.clock()
        if not self.intake.seen_since(contact, now - WINDOW) and not in_window(await self.intake.state(contact), now):
            return await self._template(platform_user_id, reply)
        bodies = render(reply, platform_user_id)
        wamid: str | None = None
        for i in range(self.progress.sent(item_id), len(bodies)):
            code, result = await self._post(platform_user_id, bodies[i])
            if code == OUTSIDE_WINDOW and i == 0:
                return await self._template(platform_user_id, reply)
            if not result.ok:
                return await self._failed(contact, code, result)
            wamid = result.platform_message_id
            self.progress.advance(item_id, i + 1)
        self.progress.finish(item_id)
        return SendResult.sent(wamid)

    async def _template(self, to: str, reply: Reply) -> SendResult:
        code, result = await self._post(to, render_template(self.template, reply, to))
        if not result.ok:
            return await self._failed(self.intake.contact(to), code, result)
        return result

    async def _failed(self, contact: str, code: int | None, result: SendResult) -> SendResult:
        if code == UNDELIVERABLE:
            await mark_unreachable(self.intake.store, contact, CHANNEL)
        return result

    async def _post(self, to: str, body: dict[str, Any]) -> tuple[int | None, SendResult]:
        wait = await self.pacer.acquire(to)
        if wait is not None:
            return None, SendResult.retry("paced to the platform's rate limit", after=wait)
        try:
            status, answer = await self.client.post(body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return None, SendResult.retry(f"{type(exc).__name__}")
        if status == 200:
            return None, SendResult.sent(_wamid(answer))
        return classify(status, answer)

    async def close(self) -> None:
        await self.client.close()


def _wamid(answer: Any) -> str | None:
    messages = answer.get("messages") if isinstance(answer, dict) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    return str(first["id"]) if isinstance(first, dict) and "id" in first else None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _changes(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if body.get("object") != "whatsapp_business_account":
        return
    for entry in _dicts(body.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field") == "messages" and isinstance(value, dict):
                yield value


def translate(msg: dict[str, Any]) -> tuple[InboundKind, str | None, str | None] | None:
    """(kind, text, payload) of one ``messages[]`` item; None for types we ignore (reactions...)."""
    kind, part = msg.get("type"), msg.get(str(msg.get("type")))
    if not isinstance(part, dict):
        return None
    if kind == "text" and isinstance(part.get("body"), str):
        return "text", part["body"], None
    if kind == "interactive":
        choice = part.get(str(part.get("type")))
        if part.get("type") in ("button_reply", "list_reply") and isinstance(choice, dict):
            return "button", None, str(choice.get("id", ""))
    if kind == "button" and isinstance(part.get("payload"), str):
        return "button", None, part["payload"]
    if kind == "location":
        return "location", None, f"location:{part.get('latitude')},{part.get('longitude')}"
    if kind in MEDIA:
        caption = part.get("caption")
        return ("media", caption, None) if isinstance(caption, str) and caption else ("media", None, f"media:{kind}")
    return None


class WhatsAppWebhook:
    """``GET`` answers the verification handshake; ``POST`` takes signed notifications.

    POST answers 401 without ``X-Hub-Signature-256``, 403 for a wrong one, 400 for JSON that
    is malformed or not an object, and 200 for every authentic notification, including ones
    we ignore (unknown objects or message types), so Meta does not retry them for a week.
    """

    def __init__(self, intake: Intake, verify_token: str, app_secret: str) -> None:
        self.intake = intake
        self.verify_token = verify_token
        self.app_secret = app_secret
        if not app_secret:
            log.warning("CASELINE_WHATSAPP_APP_SECRET is unset: the WhatsApp webhook refuses everything")

    def register(self, app: web.Application, path: str = PATH) -> None:
        app.router.add_get(path, self.verify)
        app.router.add_post(path, self.post)

    async def verify(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("hub.mode") == "subscribe" and same_secret(self.verify_token, query.get("hub.verify_token")):
            return web.Response(text=query.get("hub.challenge", ""), content_type="text/plain")
        raise refuse(web.HTTPForbidden, "verification failed: wrong hub.mode or hub.verify_token")

    async def post(self, request: web.Request) -> web.Response:
        raw = await request.read()
        signature = request.headers.get(SIGNATURE_HEADER)
        if signature is None:
            raise refuse(web.HTTPUnauthorized, f"missing {SIGNATURE_HEADER}")
        if not self.app_secret or not same_secret("sha256=" + hmac_hex(self.app_secret, raw), signature):
            raise refuse(web.HTTPForbidden, f"{SIGNATURE_HEADER} does not match the body")
        for value in _changes(json_object(raw)):
            await self._value(value)
        return web.json_response({"status": "ok"})

    async def _value(self, value: dict[str, Any]) -> None:
        for msg in _dicts(value.get("messages")):
            sender, wamid, content = msg.get("from"), msg.get("id"), translate(msg)
            if isinstance(sender, str) and sender and isinstance(wamid, str) and wamid and content:
                kind, text, payload = content
                await self.intake.submit(sender, wamid, text=text, payload=payload, kind=kind,
                                         received_at=platform_time(msg.get("timestamp"), self.intake.clock()))
        for status in _dicts(value.get("statuses")):
            await self._status(status)

    async def _status(self, status: dict[str, Any]) -> None:
        wamid, state = status.get("id"), status.get("status")
        if not (isinstance(wamid, str) and isinstance(state, str)):
            return
        await self.intake.store.update_delivery(CHANNEL, wamid, state)
        codes = {e.get("code") for e in _dicts(status.get("errors"))}
        recipient = status.get("recipient_id")
        if state == "failed" and UNDELIVERABLE in codes and isinstance(recipient, str):
            await self.intake.unreachable(recipient)
