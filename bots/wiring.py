"""Which platform connectors are on (a channel whose token is unset is off) and their routes.

``build_senders`` runs in ``build_services``; ``mount`` in ``create_app``. The inbound
side of each connector reuses its sender's client (Telegram needs the bot to answer
callback queries), so a channel is either wholly on or wholly off.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from aiogram.utils.token import TokenValidationError
from aiohttp import web

from bots import telegram, viber, whatsapp
from bots.base import Sender
from bots.common import Intake
from bots.ratelimit import KeyedBuckets, Pacer, TokenBucket
from caseline.settings import SettingsError

if TYPE_CHECKING:
    from caseline.app import Services


def intake(services: Services, channel: str) -> Intake:
    return Intake(channel, services.pipeline, services.store, services.settings.secret_key, services.clock)


def pacer(chat_rate: float, chat_burst: float, overall_rate: float, lease_seconds: float) -> Pacer:
    """A platform's per-chat and overall limits. A sender waits for a slot at most a quarter of
    the outbox lease (and 5 s): a reply held past its lease is taken by another worker and sent
    twice."""
    return Pacer(KeyedBuckets(rate=chat_rate, burst=chat_burst),
                 TokenBucket(rate=overall_rate, burst=overall_rate), max_wait=min(5.0, lease_seconds / 4))


def build_senders(services: Services) -> dict[str, Sender]:
    """Senders for the platform channels that are configured."""
    s = services.settings
    senders: dict[str, Sender] = {}
    if s.telegram_token:
        try:
            bot = telegram.make_bot(s)
        except TokenValidationError as exc:
            raise SettingsError(f"CASELINE_TELEGRAM_TOKEN: {exc}") from exc
        senders[telegram.CHANNEL] = telegram.TelegramSender(
            bot, intake(services, telegram.CHANNEL),
            pacer(s.telegram_chat_rate, 3.0, s.telegram_global_rate, s.lease_seconds))
    if s.whatsapp_access_token:
        if not s.whatsapp_phone_number_id:
            raise SettingsError("CASELINE_WHATSAPP_PHONE_NUMBER_ID: required when WhatsApp is on")
        client = whatsapp.GraphClient(s.whatsapp_api_base, s.whatsapp_phone_number_id, s.whatsapp_access_token)
        senders[whatsapp.CHANNEL] = whatsapp.WhatsAppSender(
            client, intake(services, whatsapp.CHANNEL), whatsapp.Template.load(),
            pacer(1.0, 5.0, s.whatsapp_global_rate, s.lease_seconds))
    if s.viber_token:
        senders[viber.CHANNEL] = viber.ViberSender(
            viber.ViberClient(s.viber_api_base, s.viber_token), intake(services, viber.CHANNEL),
            pacer(1.0, 5.0, 50.0, s.lease_seconds))
    return senders


def mount(app: web.Application, services: Services) -> None:
    """Add webhook routes for the configured channels, and close their clients on shutdown."""
    s, senders = services.settings, services.senders
    # build_services hands the outbox a copy of the senders made before build_senders ran.
    for channel, sender in senders.items():
        services.outbox.senders.setdefault(channel, sender)
    tg = senders.get(telegram.CHANNEL)
    if isinstance(tg, telegram.TelegramSender):
        updates = telegram.TelegramIntake(tg.intake, tg.bot)
        telegram.TelegramWebhook(updates, s.telegram_webhook_secret).register(app)
        app.on_cleanup.append(lambda _app: updates.close())
    wa = senders.get(whatsapp.CHANNEL)
    if isinstance(wa, whatsapp.WhatsAppSender):  # one intake: its memory of recent messages serves the sender
        whatsapp.WhatsAppWebhook(wa.intake, s.whatsapp_verify_token, s.whatsapp_app_secret).register(app)
    if isinstance(senders.get(viber.CHANNEL), viber.ViberSender):
        viber.ViberWebhook(intake(services, viber.CHANNEL), s.viber_token).register(app)
    app.cleanup_ctx.append(_close_clients(services))


def _close_clients(services: Services) -> Callable[[web.Application], AsyncIterator[None]]:
    """Torn down after the app's own lifecycle (which stops the outbox), so no send is cut off."""

    async def close(app: web.Application) -> AsyncIterator[None]:
        yield
        for sender in services.senders.values():
            closer = getattr(sender, "close", None)
            if closer is not None:
                await closer()

    return close


async def run_telegram_polling(services: Services, stop: asyncio.Event | None = None) -> None:
    """Long polling instead of the webhook (``caseline serve --telegram-polling``, development)."""
    sender = services.senders.get(telegram.CHANNEL)
    if not isinstance(sender, telegram.TelegramSender):
        raise SettingsError("CASELINE_TELEGRAM_TOKEN: required for Telegram polling")
    updates = telegram.TelegramIntake(sender.intake, sender.bot)
    try:
        await telegram.poll(updates, stop)
    finally:
        await updates.close()
