"""How casework plugs into the app: its gateway for the pipeline, its routes and its sweeper.

``build_gateway`` opens the case tables or indexes on the shared backend; ``mount``
adds the API under ``/api/v1`` and the console under ``/console``, and runs the
sweeper for the application's lifetime through ``cleanup_ctx``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from caseline.ports import CaseGateway
from caseline.store.factory import Backend
from casework import api
from casework.console import routes as console
from casework.core import CASEWORK, Casework, build_casework
from casework.gateway import StoreCaseGateway

if TYPE_CHECKING:
    from caseline.app import Services

log = logging.getLogger("caseline.casework")


def _build(backend: Backend, services: Services) -> Casework:
    return build_casework(
        services.settings, backend, services.store,
        clock=lambda: services.clock(),
        kick=lambda: services.outbox.kick(),
        responder=services.pipeline.stages.responder,
    )


async def build_gateway(backend: Backend, services: Services) -> CaseGateway:
    """Called once the conversation store is open; may open its own stores on ``backend``."""
    casework = _build(backend, services)
    await casework.store.open()
    return StoreCaseGateway(casework)


def mount(app: web.Application, services: Services) -> None:
    """Add casework routes (console, API) and the sweeper to the app."""
    gateway = services.pipeline.cases
    opened = isinstance(gateway, StoreCaseGateway)
    casework = gateway.casework if isinstance(gateway, StoreCaseGateway) else _build(services.backend, services)
    if not opened:
        log.warning("the pipeline uses another case gateway; the console shows no escalations")
    app[CASEWORK] = casework
    api.register(app)
    console.register(app)

    async def sweeping(app: web.Application) -> AsyncIterator[None]:
        if not opened:
            await casework.store.open()
        task = asyncio.create_task(casework.sweeper.run_forever())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await casework.http.close()

    app.cleanup_ctx.append(sweeping)
