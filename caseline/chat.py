"""``caseline chat``: the full pipeline in a terminal, for content designers and demos.

Every line typed goes through the same path as a web chat message (inbox, screen,
NLU, flows, outbox) on the embedded store; a typed number picks the numbered choice.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, datetime

import click

from caseline.app import build_services
from caseline.identity import contact_id
from caseline.messages import Inbound, Reply
from caseline.settings import Settings

CHANNEL = "cli"


async def run_chat(settings: Settings, lang: str | None) -> None:
    services = await build_services(settings)
    user = "terminal"
    contact = contact_id(settings.secret_key, CHANNEL, user)
    last: Reply | None = None
    click.echo("Caseline chat. Type a message; a number picks a choice; Ctrl+D quits.")
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            choice = last.choice_for(text) if last else None
            message = Inbound(
                channel=CHANNEL, platform_user_id=user, contact_id=contact,
                platform_message_id=uuid.uuid4().hex, received_at=datetime.now(UTC),
                text=None if choice else text, payload=choice.payload if choice else None,
                kind="button" if choice else "text", lang_hint=lang,
            )
            seq = await services.pipeline.submit(message)
            if seq is None:
                continue
            for item in await services.pipeline.wait_processed(contact, seq):
                click.echo(f"bot> {item.reply.as_text()}")
                last = item.reply
                await services.store.complete_outbox(item.id, "sent")
    finally:
        await services.pipeline.close()
        await services.store.close()
