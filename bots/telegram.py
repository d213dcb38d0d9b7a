"""Telegram through aiogram 3: a webhook on Caseline's aiohttp app, long polling for development,
and a paced sender.

aiogram's types parse updates and aiogram's own ``Bot`` client sends, so the library's
HTTP session is what the tests exercise against the fake Bot API. Inbound messages are
keyed ``<bot id>:m:<chat id>:<message id>`` (or ``:c:<callback query id>``) rather than by
``update_id`` alone, because Telegram restarts ``update_id`` at random after a quiet week.
Only private chats are handled: a safeguarding conversation never belongs in a group.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
from datetime import datetime

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    AiogramError,
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from aiohttp import web
from pydantic import ValidationError

from bots.base import SendResult
from bots.common import (
    Intake,
    PartProgress,
    json_object,
    mark_unreachable,
    refuse,
    same_secret,
    split_text,
)
from bots.ratelimit import KeyedBuckets, Pacer, TokenBucket
from caseline.contact_state import offered
from caseline.messages import Button, InboundKind, Reply
from caseline.settings import Settings

log = logging.getLogger("caseline.telegram")

CHANNEL = "telegram"
PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 64
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
HANDLED = {"update_id", *ALLOWED_UPDATES}
MEDIA = ("photo", "sticker", "voice", "audio", "video", "video_note", "animation", "document", "contact")
DEEP_LINK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SECRET_FORMAT = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def make_bot(settings: Settings, timeout: float = 15.0) -> Bot:
    """aiogram's client, pointed at ``telegram_api_base`` (a fake in tests, a local Bot API server...)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base), timeout=timeout)
    return Bot(settings.telegram_token, session=session)


def callback_key(payload: str) -> str:
    """``callback_data`` is 1-64 bytes: long payloads travel as a hash resolved from conversation state."""
    if 0 < len(payload.encode()) <= MAX_CALLBACK_BYTES and not payload.startswith("~"):
        return payload
    return "~" + hashlib.sha256(payload.encode()).hexdigest()[:40]


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    return _keyboard(reply.choices) if reply.choices else None


@functools.lru_cache(maxsize=2048)
def _keyboard(choices: tuple[Button, ...]) -> InlineKeyboardMarkup:
    """Cached: a flow sends the same menus over and over, and building the pydantic models
    was a sixth of the cost of a Telegram send. The markup is never changed after this."""
    rows = [[InlineKeyboardButton(text=b.title[:64], callback_data=callback_key(b.payload))] for b in choices]
    return InlineKeyboardMarkup(inline_keyboard=rows)


class TelegramIntake:
    """Translates updates (from the webhook or from polling) into inbound messages."""

    def __init__(self, intake: Intake, bot: Bot) -> None:
        self.intake = intake
        self.bot = bot
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, update: Update) -> None:
        """Unknown update kinds are ignored: Telegram would retry anything but a 2xx."""
        if update.message is not None:
            await self._message(update.message)
        elif update.callback_query is not None:
            await self._callback(update.callback_query)
        elif update.my_chat_member is not None:
            await self._membership(update.my_chat_member)

    def _key(self, kind: str, *parts: object) -> str:
        return ":".join([str(self.bot.id), kind, *map(str, parts)])

    async def _message(self, msg: Message) -> None:
        if msg.chat.type != "private":
            return
        uid, key = str(msg.chat.id), self._key("m", msg.chat.id, msg.message_id)
        when = min(msg.date, self.intake.clock()) if isinstance(msg.date, datetime) else None
        lang = msg.from_user.language_code if msg.from_user else None
        kind, text, payload = _content(msg)
        if kind is None:
            return
        await self.intake.submit(uid, key, text=text, payload=payload, kind=kind, received_at=when,
                                 lang_hint=lang)

    async def _callback(self, query: CallbackQuery) -> None:
        self._answer_soon(query.id)
        chat = query.message.chat if query.message is not None else None
        if chat is not None and chat.type != "private":
            return
        uid = str(chat.id if chat is not None else query.from_user.id)
        payload = await self._resolve(uid, query.data or "")
        if payload:
            await self.intake.submit(uid, self._key("c", query.id), payload=payload, kind="button",
                                     lang_hint=query.from_user.language_code)

    async def _resolve(self, uid: str, data: str) -> str | None:
        if not data.startswith("~"):
            return data
        state = await self.intake.state(self.intake.contact(uid))
        return next((b.payload for b in offered(state) if callback_key(b.payload) == data), None)

    async def _membership(self, update: ChatMemberUpdated) -> None:
        if update.chat.type == "private" and update.new_chat_member.status in ("kicked", "member"):
            await self.intake.unreachable(str(update.chat.id), update.new_chat_member.status == "member")

    def _answer_soon(self, query_id: str) -> None:
        """Every callback query is answered (clients show a spinner until then), off the request."""
        task = asyncio.create_task(self._answer(query_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, query_id: str) -> None:
        try:
            await self.bot.answer_callback_query(query_id)
        except AiogramError as exc:
            log.warning("answerCallbackQuery failed: %s", exc)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)


def _content(msg: Message) -> tuple[InboundKind | None, str | None, str | None]:
    """(kind, text, payload) of a message; kind None for service messages we ignore."""
    if msg.text is not None:
        command, _, rest = msg.text.partition(" ")
        if command.split("@", 1)[0] == "/start":
            link = rest.strip()
            return "start", None, link if DEEP_LINK.match(link) else None
        return "text", msg.text, None
    if msg.location is not None:
        return "location", None, f"location:{msg.location.latitude},{msg.location.longitude}"
    media = next((m for m in MEDIA if getattr(msg, m, None)), None)
    if media is None:
        return None, None, None
    return "media", msg.caption, None if msg.caption else f"media:{media}"


class TelegramWebhook:
    """``POST /webhooks/telegram``: secret header checked in constant time, then accepted durably.

    Answers 401 for a missing or wrong secret, 400 for malformed JSON or a body that is not an
    Update, and 200 with ``{}`` for everything authentic, including update kinds we ignore.
    """

    def __init__(self, updates: TelegramIntake, secret: str) -> None:
        self.updates = updates
        self.secret = secret
        if not secret:
            log.warning("CASELINE_TELEGRAM_WEBHOOK_SECRET is unset: the Telegram webhook refuses everything")

    def register(self, app: web.Application, path: str = PATH) -> None:
        app.router.add_post(path, self.post)

    async def post(self, request: web.Request) -> web.Response:
        if not same_secret(self.secret, request.headers.get(SECRET_HEADER)):
            raise refuse(web.HTTPUnauthorized, f"missing or wrong {SECRET_HEADER}")
        body = json_object(await request.read())
        try:
            # Only the kinds we handle are validated, so a shape aiogram does not know yet in an
            # update we ignore anyway cannot turn into a 400 (and a week of Telegram retries).
            update = Update.model_validate({k: v for k, v in body.items() if k in HANDLED})
        except ValidationError:
            raise refuse(web.HTTPBadRequest, "body is not a Telegram Update") from None
        await self.updates.handle(update)
        return web.json_response({})


class TelegramSender:
    """Sends replies with inline keyboards, split at 4,096 characters, within Telegram's limits."""

    channel = CHANNEL

    def __init__(self, bot: Bot, intake: Intake, pacer: Pacer | None = None) -> None:
        self.bot = bot
        self.intake = intake
        self.pacer = pacer or Pacer(KeyedBuckets(rate=1.0, burst=3.0), TokenBucket(rate=30.0, burst=30.0))
        self.progress = PartProgress()

    async def send(self, platform_user_id: str, reply: Reply, item_id: int) -> SendResult:
        try:
            chat_id = int(platform_user_id)
        except ValueError:
            return SendResult.failed(f"not a Telegram chat id: {platform_user_id!r}")
        parts = split_text(reply.text or "…", MAX_TEXT)
        last_id: int | None = None
        for i in range(self.progress.sent(item_id), len(parts)):
            wait = await self.pacer.acquire(platform_user_id)
            if wait is not None:
                return SendResult.retry("paced to the platform's rate limit", after=wait)
            markup = keyboard(reply) if i == len(parts) - 1 else None
            result = await self._send_part(chat_id, parts[i], markup)
            if isinstance(result, SendResult):
                return result
            last_id = result
            self.progress.advance(item_id, i + 1)
        self.progress.finish(item_id)
        return SendResult.sent(f"{chat_id}:{last_id}" if last_id is not None else None)

    async def _send_part(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None) -> int | SendResult:
        try:
            message = await self.bot.send_message(chat_id=chat_id, text=text, reply_markup=markup)
        except TelegramRetryAfter as exc:
            return SendResult.retry("429 Too Many Requests", after=float(exc.retry_after))
        except TelegramForbiddenError as exc:
            await mark_unreachable(self.intake.store, self.intake.contact(str(chat_id)), CHANNEL)
            return SendResult.failed(f"unreachable: {exc.message}")
        except (TelegramServerError, TelegramNetworkError) as exc:
            return SendResult.retry(f"{type(exc).__name__}: {exc.message}")
        except TelegramAPIError as exc:
            return SendResult.failed(f"{type(exc).__name__}: {exc.message}")
        except AiogramError as exc:  # an unparseable answer (an HTML error page from a proxy)
            return SendResult.retry(f"{type(exc).__name__}")
        return message.message_id

    async def close(self) -> None:
        await self.bot.session.close()


async def set_webhook(settings: Settings, url: str) -> None:
    """Register ``url`` with Telegram, with the secret it must echo in every request."""
    if not SECRET_FORMAT.match(settings.telegram_webhook_secret):
        raise ValueError("CASELINE_TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -")
    bot = make_bot(settings)
    try:
        await bot.set_webhook(url=url, secret_token=settings.telegram_webhook_secret,
                              allowed_updates=ALLOWED_UPDATES)
    finally:
        await bot.session.close()


async def poll(updates: TelegramIntake, stop: asyncio.Event | None = None, timeout: int = 25) -> None:
    """Long polling for development: an offset is confirmed only after its update was accepted."""
    bot, offset, failures = updates.bot, None, 0
    await bot.delete_webhook(drop_pending_updates=False)
    while stop is None or not stop.is_set():
        try:
            batch = await bot.get_updates(offset=offset, timeout=timeout, allowed_updates=ALLOWED_UPDATES)
        except TelegramRetryAfter as exc:
            await asyncio.sleep(exc.retry_after)
            continue
        except AiogramError as exc:
            failures += 1
            log.warning("getUpdates failed (%s); retrying", exc)
            await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
            continue
        failures = 0
        for update in batch:
            await updates.handle(update)
            offset = update.update_id + 1
