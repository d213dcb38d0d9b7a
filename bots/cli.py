"""``caseline telegram ...`` and ``caseline viber ...``: register webhooks with the platforms.

Webhook registration is a one-off operator step, kept out of start-up so that several
server processes never race to re-register.
"""

from __future__ import annotations

import asyncio

import click

from bots import telegram, viber
from caseline.settings import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("telegram")
def telegram_group() -> None:
    """Telegram bot administration."""


@telegram_group.command("set-webhook")
@click.argument("url")
def telegram_set_webhook(url: str) -> None:
    """Point Telegram at URL (https://.../webhooks/telegram), with CASELINE_TELEGRAM_WEBHOOK_SECRET."""
    settings = _settings()
    if not settings.telegram_token:
        raise click.ClickException("CASELINE_TELEGRAM_TOKEN is not set")
    try:
        asyncio.run(telegram.set_webhook(settings, url))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Telegram webhook set to {url}")


@click.group("viber")
def viber_group() -> None:
    """Viber bot administration."""


@viber_group.command("set-webhook")
@click.argument("url")
def viber_set_webhook(url: str) -> None:
    """Point Viber at URL (https://.../webhooks/viber); the server must already be reachable there."""
    settings = _settings()
    if not settings.viber_token:
        raise click.ClickException("CASELINE_VIBER_TOKEN is not set")

    async def run() -> None:
        client = viber.ViberClient(settings.viber_api_base, settings.viber_token)
        try:
            await viber.set_webhook(client, url)
        finally:
            await client.close()

    try:
        asyncio.run(run())
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Viber webhook set to {url}")
