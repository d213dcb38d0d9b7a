"""Which platform connectors are on (a channel whose token is unset is off) and their routes.

Placeholder for the foundation: the web chat only; the connectors issue fills it in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bots.base import Sender

if TYPE_CHECKING:
    from caseline.app import Services


def build_senders(services: Services) -> dict[str, Sender]:
    """Senders for the platform channels that are configured."""
    return {}


def mount(app: web.Application, services: Services) -> None:
    """Add webhook routes for the configured channels."""
