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
from casework.probation import wiring as probation_wiring  # probation check-ins

if TYPE_CHECKING:
    from caseline.app import Services

log = logging.getLogger("caseline.casework")


def _build(backend: Backend, services: Services) -> Casework:
    return build_casework(
        services.settings,
        backend,
        services.store,
        clock=lambda: services.clock(),
        kick=lambda: services.outbox.kick(),
        responder=services.pipeline.stages.responder,
    )


def build_gateway(backend: Backend, services: Services) -> CaseGateway:
    """Build the gateway; its store opens with the others (``services.open_stores``)."""
    casework = _build(backend, services)
    services.openers.append(casework.store.open)
    probation_wiring.attach(services, casework)  # probation: its stores open with the others; turn extension
    metrics = services.metrics
    casework.sweeper.on_breach = lambda severity: metrics.sla_breaches.labels(severity).inc()

    async def queue_depth() -> None:
        waiting = await casework.store.list_cases(None, ["waiting"], limit=10_000)
        for severity in ("critical", "high", "medium", "low", "none"):
            metrics.queue_depth.labels(severity).set(sum(c.severity == severity for c in waiting))

    metrics.add_probe(queue_depth)
    return StoreCaseGateway(casework)


def mount(app: web.Application, services: Services) -> None:
    """Add casework routes (console, API) and the sweeper to the app."""
    gateway = services.pipeline.cases
    opened = isinstance(gateway, StoreCaseGateway)
    casework = (
        gateway.casework if isinstance(gateway, StoreCaseGateway) else _build(services.backend, services)
    )
    if not opened:
        log.warning("the pipeline uses another case gateway; the console shows no escalations")
    app[CASEWORK] = casework
    api.register(app)
    console.register(app)
    probation = probation_wiring.mount(app, services, casework)  # probation: routes + scheduler runtime

    async def sweeping(app: web.Application) -> AsyncIterator[None]:
        if not opened:
            await casework.store.open()
        task = asyncio.create_task(casework.sweeper.run_forever()) if services.run_background else None
        if not opened:
            await probation.open()  # probation: its stores were not in services.openers
        async with probation.running(services.run_background):  # probation: the scheduler loop
            yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await casework.http.close()

    app.cleanup_ctx.append(sweeping)
