"""Composition root: builds the store, the stages and the channels, and mounts the routes.

Collaborators are attached to the aiohttp application under typed ``AppKey``s and
passed explicitly; nothing is looked up from a global.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pymongo.errors import ConnectionFailure
from threadpoolctl import threadpool_limits

from bots import wiring as bots_wiring
from bots.base import Sender
from bots.webchat import WebchatHub, WebchatRoutes, WebchatSender
from caseline.crypto import FieldCipher
from caseline.identity import contact_id
from caseline.keyring import keyring_for
from caseline.logs import correlation_id, new_correlation_id
from caseline.metrics import Metrics
from caseline.outbox import OutboxWorker
from caseline.pipeline import Clock, Pipeline, Stages, utcnow
from caseline.ports import CaseGateway
from caseline.settings import Settings
from caseline.store.base import ConversationStore, StoreUnavailable
from caseline.store.factory import Backend, conversation_store, open_backend, with_cipher
from casework import wiring as casework_wiring
from casework.gateway import MemoryCaseGateway
from flows.engine import FlowEngine
from nlu.embedded import EmbeddedNlu
from safeguarding.respond import SafetyResponder
from safeguarding.screen import RiskScreen

log = logging.getLogger("caseline.app")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Opener = Callable[[], Awaitable[None]]


@dataclass
class Services:
    settings: Settings
    backend: Backend
    store: ConversationStore
    pipeline: Pipeline
    outbox: OutboxWorker
    hub: WebchatHub
    metrics: Metrics
    senders: dict[str, Sender] = field(default_factory=dict)
    clock: Clock = utcnow
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    openers: list[Opener] = field(default_factory=list)
    run_background: bool = True
    _opened: set[int] = field(default_factory=set)

    async def open_stores(self, *, strict: bool = True) -> bool:
        """Open (create tables and indexes for) every store once; true when all are open.

        Not strict, an unreachable store is logged and retried on the next call, so the
        service starts and recovers on its own when the store comes back.
        """
        for i, opener in enumerate(self.openers):
            if i in self._opened:
                continue
            try:
                await opener()
            except (StoreUnavailable, ConnectionFailure):
                if strict:
                    raise
                log.warning("store unreachable; serving 503 until it is back")
                return False
            self._opened.add(i)
        return True


SERVICES = web.AppKey("services", Services)


def load_stages(settings: Settings) -> Stages:
    """Load content and models; slow parts (NLU training) run once and are cached on disk.

    BLAS is held to one thread: the NLU scores one short message at a time, and idle
    BLAS threads spinning on a small machine slow the event loop and the SQLite thread.
    """
    threadpool_limits(limits=1)
    return Stages(
        screen=RiskScreen.load(model_cache=settings.model_cache / "screen"),
        responder=SafetyResponder.load(),
        nlu=EmbeddedNlu.load(cache_dir=settings.model_cache / "nlu"),
        flows=FlowEngine.load(snapshot_dir=settings.data_dir / "flow-versions"),
    )


async def build_services(
    settings: Settings,
    *,
    backend: Backend | None = None,
    stages: Stages | None = None,
    cases: CaseGateway | None = None,
    clock: Clock = utcnow,
    check_store: bool = True,
) -> Services:
    """Wire everything. With ``check_store=False`` an unreachable store does not stop the
    start: requests get 503 and the recovery loop keeps trying to open it."""
    backend = backend or open_backend(settings)
    if backend.cipher is None and (ring := keyring_for(settings)) is not None:
        # One cipher for every store on the backend: conversations, cases and probation.
        backend = with_cipher(backend, FieldCipher(ring))
    store = conversation_store(backend)
    if stages is None:
        stages = await asyncio.to_thread(load_stages, settings)
    hub = WebchatHub()
    metrics = Metrics()
    pipeline = Pipeline(
        store,
        stages,
        cases or MemoryCaseGateway(),
        lease_seconds=settings.lease_seconds,
        safety_mode_turns=settings.safety_mode_turns,
        default_country=settings.default_country,
        clock=clock,
        metrics=metrics,
    )
    senders: dict[str, Sender] = {
        "webchat": WebchatSender(hub, lambda uid: contact_id(settings.secret_key, "webchat", uid)),
    }
    outbox = OutboxWorker(
        store, senders, pipeline.owner, lease_seconds=settings.lease_seconds, clock=clock, metrics=metrics
    )
    pipeline.replies = outbox

    async def backlog() -> None:
        metrics.outbox_backlog.set(await store.outbox_backlog())

    metrics.add_probe(backlog)
    services = Services(settings, backend, store, pipeline, outbox, hub, metrics, senders, clock=clock)
    services.openers.append(store.open)
    senders.update(bots_wiring.build_senders(services))
    pipeline.cases = cases or casework_wiring.build_gateway(backend, services)
    await services.open_stores(strict=check_store)
    return services


async def _recovery_loop(services: Services, every: float = 2.0) -> None:
    """Pick up messages a crashed process accepted but never processed."""
    while True:
        try:
            if await services.open_stores(strict=False):
                await services.pipeline.recover()
        except (StoreUnavailable, ConnectionFailure):
            log.warning("store unavailable during recovery")
        except Exception:
            log.exception("recovery pass failed")
        await asyncio.sleep(every)


def _json_error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as JSON with a reason; nothing internal leaks into it."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        return _json_error(exc.status, exc.reason if exc.text is None else exc.text.split(": ", 1)[-1])
    except (StoreUnavailable, ConnectionFailure):
        # Platforms retry on 503, so nothing is lost while the store is down.
        return _json_error(503, "storage is unavailable, retry later")
    except TimeoutError:
        return _json_error(503, "timed out, retry later")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _json_error(500, "internal error")


@web.middleware
async def correlation(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tag every log line of a request with one id (taken from X-Request-Id when sane)."""
    given = request.headers.get("X-Request-Id", "")
    cid = given if given.isalnum() and len(given) <= 64 else new_correlation_id()
    token = correlation_id.set(cid)
    try:
        response = await handler(request)
    finally:
        correlation_id.reset(token)
    response.headers["X-Request-Id"] = cid
    return response


LONG_LIVED = ("/webchat/ws", "/console/events")
REQUEST_TIMEOUT_S = 30.0


@web.middleware
async def request_timeout(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bound every request (a slow client or a stuck store must not pin a worker), except streams."""
    if request.path.startswith(LONG_LIVED):
        return await handler(request)
    async with asyncio.timeout(REQUEST_TIMEOUT_S):
        return await handler(request)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    )
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.app[SERVICES].settings.public_url.startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics_endpoint(request: web.Request) -> web.Response:
    body = await request.app[SERVICES].metrics.render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


async def readyz(request: web.Request) -> web.Response:
    ok = await request.app[SERVICES].store.ping()
    return web.json_response({"status": "ready" if ok else "store unreachable"}, status=200 if ok else 503)


async def stop_tasks(tasks: list[asyncio.Task[None]], grace: float = 10.0) -> None:
    """Cancel background loops and wait a bounded time: a loop that ignores its cancellation
    must not keep the process (or a test run) alive forever."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _done, stuck = await asyncio.wait(tasks, timeout=grace)
    for task in stuck:
        log.error("background task %s did not stop within %.0f s", task.get_name(), grace)


def create_app(services: Services, *, background: bool = True) -> web.Application:
    app = web.Application(
        client_max_size=services.settings.max_body_bytes,
        middlewares=[correlation, security_headers, error_middleware, request_timeout],
    )
    app[SERVICES] = services
    services.run_background = background
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    WebchatRoutes(services.pipeline, services.store, services.hub, services.settings.secret_key).register(app)
    bots_wiring.mount(app, services)
    casework_wiring.mount(app, services)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        if background:
            services.tasks.append(asyncio.create_task(services.outbox.run_forever()))
            services.tasks.append(asyncio.create_task(_recovery_loop(services)))
        yield
        await stop_tasks(services.tasks)
        await services.pipeline.close()
        await services.outbox.close()
        await services.store.close()

    app.cleanup_ctx.append(lifecycle)
    return app


def describe(services: Services) -> dict[str, Any]:
    """What is switched on, for the start-up banner (no secrets)."""
    store = "mongodb" if services.settings.uses_mongo else f"sqlite:{services.settings.sqlite_path}"
    return {"store": store, "channels": sorted(services.senders)}
