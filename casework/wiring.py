"""How casework plugs into the app: its gateway for the pipeline and its routes.

Placeholder for the foundation; the case-worker queue issue fills it in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from caseline.ports import CaseGateway
from caseline.store.factory import Backend
from casework.gateway import MemoryCaseGateway

if TYPE_CHECKING:
    from caseline.app import Services


async def build_gateway(backend: Backend, services: Services) -> CaseGateway:
    """Called once the conversation store is open; may open its own stores on ``backend``."""
    return MemoryCaseGateway()


def mount(app: web.Application, services: Services) -> None:
    """Add casework routes (console, API) to the app."""
