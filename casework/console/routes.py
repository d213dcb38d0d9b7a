"""Console routes under ``/console``: login, the live queue, case pages, actions, dashboard.

Forms post back here and are redirected (so a reload never repeats an action); each
action goes through the desk like the API's do, with the session's CSRF token. The
queue is pushed over server-sent events, with polling in the script as the fallback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from casework.accounts import EnrolmentNeeded, SecondFactorNeeded, TooManyAttempts
from casework.console import charts, pages
from casework.errors import CaseworkError, Unauthorized
from casework.http import SESSION_COOKIE, casework_of, client_address, principal, set_session_cookie
from casework.model import User

STATIC = Path(__file__).parent.parent / "static"
HTML = "text/html"
Action = Callable[[web.Request, User, str, Any], Awaitable[None]]


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type=HTML, headers={"Cache-Control": "no-store"})


def _login_failed(exc: CaseworkError, page: str) -> web.Response:
    response = _html(page, exc.status)
    if isinstance(exc, TooManyAttempts):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _page(request: web.Request, form: Any = None) -> tuple[User, str]:
    user, session, _token = await principal(request, form.get("csrf") if form is not None else None)
    return user, session.csrf


def _fail(exc: CaseworkError) -> web.StreamResponse:
    if isinstance(exc, Unauthorized):
        raise web.HTTPSeeOther("/console/login")
    return _html(pages.error_page(exc.status, exc.reason), exc.status)


async def index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/console/queue")


async def login_form(request: web.Request) -> web.StreamResponse:
    return _html(pages.login_page())


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    cw = casework_of(request)
    try:
        token, _session = await cw.accounts.login(
            str(form.get("username", ""))[:64], str(form.get("password", "")), "cookie",
            address=client_address(request),
        )
    except SecondFactorNeeded as exc:
        return _html(pages.totp_page(cw.accounts.ticket(exc.user)))
    except EnrolmentNeeded as exc:
        enrolment = await cw.accounts.begin_enrolment(exc.user)
        return _html(pages.enrol_page(cw.accounts.ticket(exc.user), enrolment.secret, enrolment.uri))
    except CaseworkError as exc:
        return _login_failed(exc, pages.login_page(exc.reason))
    return _signed_in(request, token)


async def login_totp(request: web.Request) -> web.StreamResponse:
    """The second step: the ticket from the first stands for the password, plus the code."""
    form = await request.post()
    cw = casework_of(request)
    ticket = str(form.get("ticket", ""))[:256]
    try:
        token, _session = await cw.accounts.login_with_ticket(
            ticket, str(form.get("totp", ""))[:16] or None, "cookie", client_address(request)
        )
    except (SecondFactorNeeded, EnrolmentNeeded) as exc:
        return _html(pages.totp_page(cw.accounts.ticket(exc.user), exc.reason), exc.status)
    except CaseworkError as exc:
        if exc.status == 401 and "code" in exc.reason:
            return _login_failed(exc, pages.totp_page(ticket, exc.reason))
        return _login_failed(exc, pages.login_page(exc.reason))
    return _signed_in(request, token)


def _signed_in(request: web.Request, token: str) -> web.StreamResponse:
    cw = casework_of(request)
    response = web.HTTPSeeOther("/console/queue")
    set_session_cookie(
        response, token, cw.secure_cookies or request.secure, int(cw.config.session_lifetime.total_seconds())
    )
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        user, _session, token = await principal(request, str(form.get("csrf", "")))
        await casework_of(request).accounts.logout(user, token)
    except CaseworkError:
        pass
    response = web.HTTPSeeOther("/console/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


async def account(request: web.Request) -> web.StreamResponse:
    cw = casework_of(request)
    try:
        user, csrf = await _page(request)
        enrolled = await cw.accounts.has_second_factor(user.username)
    except CaseworkError as exc:
        return _fail(exc)
    return _html(pages.account_page(user, csrf, enrolled))


async def account_totp(request: web.Request) -> web.StreamResponse:
    """Opt in to two-step login; the secret is on this one response and never again."""
    form = await request.post()
    cw = casework_of(request)
    try:
        user, csrf = await _page(request, form)
        enrolment = await cw.accounts.begin_enrolment(user)
    except CaseworkError as exc:
        return _fail(exc)
    return _html(pages.account_page(user, csrf, False, enrolment.secret, enrolment.uri))


async def queue(request: web.Request) -> web.StreamResponse:
    try:
        user, csrf = await _page(request)
        cases = await casework_of(request).desk.queue(user)
    except CaseworkError as exc:
        return _fail(exc)
    return _html(pages.queue_page(user, csrf, cases))


async def claim_next(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        user, _csrf = await _page(request, form)
        case = await casework_of(request).desk.claim_next(user)
    except CaseworkError as exc:
        return _fail(exc)
    raise web.HTTPSeeOther(f"/console/cases/{case.id}" if case else "/console/queue")


async def case_view(request: web.Request) -> web.StreamResponse:
    cw = casework_of(request)
    try:
        user, csrf = await _page(request)
        case, transcript = await cw.desk.view(user, request.match_info["id"])
    except CaseworkError as exc:
        return _fail(exc)
    return _html(pages.case_page(user, csrf, case, transcript, cw.config))


async def _claim(request: web.Request, user: User, case_id: str, form: Any) -> None:
    await casework_of(request).desk.claim(user, case_id)


async def _reply(request: web.Request, user: User, case_id: str, form: Any) -> None:
    text = str(form.get("text", "")).strip() or str(form.get("canned", ""))
    await casework_of(request).desk.reply(user, case_id, text)


async def _note(request: web.Request, user: User, case_id: str, form: Any) -> None:
    await casework_of(request).desk.note(user, case_id, form.get("text"))


async def _refer(request: web.Request, user: User, case_id: str, form: Any) -> None:
    await casework_of(request).desk.refer(user, case_id, form.get("service"), form.get("note") or None)


async def _transfer(request: web.Request, user: User, case_id: str, form: Any) -> None:
    await casework_of(request).desk.transfer(
        user, case_id, form.get("to_user") or None, form.get("to_team") or None
    )


async def _resolve(request: web.Request, user: User, case_id: str, form: Any) -> None:
    await casework_of(request).desk.resolve(user, case_id, form.get("outcome"))


ACTIONS: dict[str, Action] = {
    "claim": _claim,
    "reply": _reply,
    "note": _note,
    "refer": _refer,
    "transfer": _transfer,
    "resolve": _resolve,
}


async def case_action(request: web.Request) -> web.StreamResponse:
    action = ACTIONS.get(request.match_info["action"])
    if action is None:
        raise web.HTTPNotFound()
    form = await request.post()
    case_id = request.match_info["id"]
    try:
        user, _csrf = await _page(request, form)
        await action(request, user, case_id, form)
    except CaseworkError as exc:
        return _fail(exc)
    raise web.HTTPSeeOther(f"/console/cases/{case_id}")


async def dashboard(request: web.Request) -> web.StreamResponse:
    cw = casework_of(request)
    try:
        user, csrf = await _page(request)
        now = cw.desk.clock()
        cases = await cw.desk.dashboard_cases(user, now - timedelta(days=30))
        open_cases = await cw.store.list_cases(user.teams, ["waiting", "claimed", "awaiting_user"])
    except CaseworkError as exc:
        return _fail(exc)
    seen = {c.id for c in cases}
    body = charts.dashboard_svg([*cases, *(c for c in open_cases if c.id not in seen)], now)
    return _html(pages.layout("Dashboard", f'<div class="charts">{body}</div>', user, csrf, "dashboard"))


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ids of cases that changed in the user's teams."""
    try:
        user, _csrf = await _page(request)
    except CaseworkError as exc:
        return _fail(exc)
    hub = casework_of(request).hub
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    queue = hub.subscribe(user.teams)
    try:
        await response.write(b"retry: 3000\n\n")
        while True:
            try:
                async with asyncio.timeout(15):
                    event = await queue.get()
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
    except ConnectionResetError:
        pass
    finally:
        hub.unsubscribe(queue)
    return response


def register(app: web.Application) -> None:
    app.router.add_get("/console", index)
    app.router.add_get("/console/login", login_form)
    app.router.add_post("/console/login", login)
    app.router.add_post("/console/login/totp", login_totp)
    app.router.add_post("/console/logout", logout)
    app.router.add_get("/console/account", account)
    app.router.add_post("/console/account/totp", account_totp)
    app.router.add_get("/console/queue", queue)
    app.router.add_post("/console/queue/claim", claim_next)
    app.router.add_get("/console/events", events)
    app.router.add_get("/console/dashboard", dashboard)
    app.router.add_get("/console/cases/{id}", case_view)
    app.router.add_post("/console/cases/{id}/{action}", case_action)
    app.router.add_static("/console/static/", STATIC, name="console-static")
