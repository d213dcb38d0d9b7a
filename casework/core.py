"""Assembles casework on a backend: store adapter, desk, accounts, notifiers, sweeper.

Kept apart from ``wiring.py`` so the CLI and tests can build the same object
without an aiohttp application.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from caseline.pipeline import Clock, utcnow
from caseline.settings import Settings
from caseline.store.base import ConversationStore
from caseline.store.factory import Backend
from casework.accounts import Accounts
from casework.audit import Auditor
from casework.config import CaseworkConfig, load_config
from casework.desk import Desk
from casework.live import ConsoleHub
from casework.notify import HttpClient, Notifier, TelegramNotifier, WebhookNotifier
from casework.ports import CaseStore
from casework.sweeper import Sweeper


def case_store(backend: Backend) -> CaseStore:
    """Notes, referrals and outcomes are sealed with the backend's cipher, if it has one."""
    if backend.sqlite is not None:
        from caseline.store.cases_sqlite import SqliteCaseStore

        return SqliteCaseStore(backend.sqlite, cipher=backend.cipher)
    from caseline.store.cases_mongo import MongoCaseStore

    return MongoCaseStore(backend.mongo, cipher=backend.cipher)


def notifiers_for(settings: Settings, config: CaseworkConfig, http: HttpClient) -> list[Notifier]:
    found: list[Notifier] = []
    if settings.telegram_token and config.telegram_chat_id:
        found.append(
            TelegramNotifier(
                http, settings.telegram_api_base, settings.telegram_token, config.telegram_chat_id
            )
        )
    if config.webhook_url:
        found.append(WebhookNotifier(http, config.webhook_url))
    return found


@dataclass
class Casework:
    settings: Settings
    config: CaseworkConfig
    store: CaseStore
    desk: Desk
    accounts: Accounts
    sweeper: Sweeper
    http: HttpClient
    hub: ConsoleHub = field(default_factory=ConsoleHub)

    @property
    def secure_cookies(self) -> bool:
        return self.settings.public_url.startswith("https://")


def build_casework(
    settings: Settings,
    backend: Backend,
    conversations: ConversationStore,
    *,
    clock: Clock = utcnow,
    kick: Callable[[], None] = lambda: None,
    responder: Any = None,
    config: CaseworkConfig | None = None,
    notifiers: list[Notifier] | None = None,
) -> Casework:
    """Build (not open) casework; call ``await casework.store.open()`` before use."""
    config = config or load_config()
    store = case_store(backend)
    auditor = Auditor(store, clock)
    hub = ConsoleHub()
    http = HttpClient()
    desk = Desk(store, config, conversations, auditor, hub, clock, kick, responder)
    public = settings.public_url or f"http://{settings.host}:{settings.port}"
    sweeper = Sweeper(
        desk, notifiers if notifiers is not None else notifiers_for(settings, config, http), public
    )
    return Casework(
        settings, config, store, desk,
        Accounts(store, config, auditor, clock, secret_key=settings.secret_key), sweeper, http, hub,
    )


CASEWORK = web.AppKey("casework", Casework)
