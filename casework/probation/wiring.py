"""Assembles probation on the app's backend and services, and mounts its routes and scheduler.

``attach`` runs from ``casework.wiring.build_gateway`` (where the pipeline and the case desk
exist): it registers the stores with ``services.openers`` and appends the turn extension to
the pipeline. ``mount`` runs from ``casework.wiring.mount``: it adds the API and console
routes and returns the runtime whose ``run`` the ``sweeping`` cleanup context starts only
when ``services.run_background``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from caseline.scheduler import Scheduler, job_store
from caseline.store.factory import Backend
from caseline.waiting import wait_set
from casework.probation import api
from casework.probation import console as console_routes
from casework.probation.extension import ProbationExtension
from casework.probation.planner import Planner
from casework.probation.ports import ProbationStore
from casework.probation.service import ProbationService

if TYPE_CHECKING:
    from caseline.app import Services
    from casework.core import Casework

log = logging.getLogger("caseline.probation")


def probation_store(backend: Backend) -> ProbationStore:
    """Check-in answers and messages are sealed with the backend's cipher, if it has one."""
    if backend.sqlite is not None:
        from caseline.store.probation_sqlite import SqliteProbationStore

        return SqliteProbationStore(backend.sqlite, cipher=backend.cipher)
    from caseline.store.probation_mongo import MongoProbationStore

    return MongoProbationStore(backend.mongo, cipher=backend.cipher)


def attach(services: Services, casework: Casework) -> ProbationExtension:
    """Build the store, planner and turn extension; the stores open with the others."""
    store = probation_store(services.backend)
    jobs = job_store(services.backend)
    services.openers.append(store.open)
    services.openers.append(jobs.open)
    services.pipeline.erasers.append(store)  # a contact's erasure also erases their check-ins
    planner = Planner(
        store, jobs, services.store, casework.desk.escalate, lambda: services.clock(),
        lambda: services.outbox.kick(),
    )
    extension = ProbationExtension(
        store, planner, lambda: services.pipeline.stages.flows, lambda: services.clock(),
        casework.desk.escalate, casework.desk.audit,
    )
    services.pipeline.extensions.append(extension)
    return extension


def extension_of(services: Services) -> ProbationExtension | None:
    return next((e for e in services.pipeline.extensions if isinstance(e, ProbationExtension)), None)


@dataclass
class Runtime:
    extension: ProbationExtension
    service: ProbationService
    scheduler: Scheduler

    async def open(self) -> None:
        await self.extension.store.open()
        await self.extension.planner.jobs.open()

    async def run(self, stop: asyncio.Event) -> None:
        """The scheduler loop; an unexpected error is logged and the loop carries on."""
        while not stop.is_set():
            try:
                await self.scheduler.run_forever(poll=1.0, stop=stop)
            except Exception:
                log.exception("probation scheduler pass failed")
                await wait_set(stop, 2.0)

    @contextlib.asynccontextmanager
    async def running(self, background: bool) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(self.run(stop)) if background else None
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                task.cancel()
                # The app may have closed the shared store first (cleanup order): nothing to keep then.
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


RUNTIME = web.AppKey("probation_runtime", Runtime)


def mount(app: web.Application, services: Services, casework: Casework) -> Runtime:
    extension = extension_of(services) or attach(services, casework)
    service = ProbationService(extension.store, extension.planner, casework.desk, extension)
    scheduler = Scheduler(extension.planner.jobs, extension.planner.handlers, clock=lambda: services.clock())
    runtime = Runtime(extension, service, scheduler)
    app[api.PROBATION] = service
    app[RUNTIME] = runtime
    api.register(app)
    console_routes.register(app)
    return runtime
