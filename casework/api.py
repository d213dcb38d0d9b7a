"""The JSON API under ``/api/v1``: login, the queue, case actions, audit and accounts.

Handlers only parse and render; the desk and accounts decide and audit. Any
:class:`~casework.errors.CaseworkError` leaves as ``{"error": reason}`` with its status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import wraps
from typing import Any

from aiohttp import web

from casework.accounts import TooManyAttempts
from casework.core import CASEWORK
from casework.desk import transcript_json
from casework.errors import BadInput, CaseworkError
from casework.http import casework_of, client_address, json_body, principal
from casework.model import AuditQuery
from casework.openapi import document

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PREFIX = "/api/v1"


def error_response(exc: CaseworkError) -> web.Response:
    """``{"error": reason}`` plus any fields the error carries; a Retry-After on 429."""
    extra: dict[str, Any] = getattr(exc, "extra", {})
    response = web.json_response({"error": exc.reason, **extra}, status=exc.status)
    if isinstance(exc, TooManyAttempts):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def guarded(handler: Handler) -> Handler:
    @wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except CaseworkError as exc:
            return error_response(exc)

    return run


def _credentials(body: dict[str, Any]) -> tuple[str, str]:
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or len(username) > 64:
        raise BadInput("send 'username' and 'password' as strings")
    return username, password


async def login(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    username, password = _credentials(body)
    code = body.get("totp")
    if code is not None and not isinstance(code, str):
        raise BadInput("'totp' must be a string of 6 digits")
    token, session = await casework_of(request).accounts.login(
        username, password, "bearer", code or None, client_address(request)
    )
    return web.json_response({"token": token, "expires_at": session.expires_at.isoformat()})


async def totp_enrol(request: web.Request) -> web.StreamResponse:
    username, password = _credentials(await json_body(request))
    enrolment = await casework_of(request).accounts.enrol(username, password, client_address(request))
    response = web.json_response({"secret": enrolment.secret, "uri": enrolment.uri}, status=201)
    response.headers["Cache-Control"] = "no-store"
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    user, _session, token = await principal(request)
    await casework_of(request).accounts.logout(user, token)
    return web.json_response({"ok": True})


async def heartbeat(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    await casework_of(request).desk.heartbeat(user, force=True)
    return web.json_response({"ok": True})


async def list_cases(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    cases = await casework_of(request).desk.queue(user, request.query.get("status"))
    now = casework_of(request).desk.clock()
    return web.json_response({"now": now.isoformat(), "cases": [c.summary() for c in cases]})


async def claim_next(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    case = await casework_of(request).desk.claim_next(user)
    return web.json_response({"case": None if case is None else case.summary()})


async def get_case(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    case, transcript = await casework_of(request).desk.view(user, request.match_info["id"])
    return web.json_response({"case": case.to_json(), "transcript": [transcript_json(t) for t in transcript]})


async def export_case(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    return web.json_response(await casework_of(request).desk.export(user, request.match_info["id"]))


async def claim(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    case = await casework_of(request).desk.claim(user, request.match_info["id"])
    return web.json_response({"case": case.summary()})


async def send_message(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    body = await json_body(request)
    await casework_of(request).desk.reply(user, request.match_info["id"], body.get("text"))
    return web.json_response({"ok": True}, status=202)


async def add_note(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    body = await json_body(request)
    await casework_of(request).desk.note(user, request.match_info["id"], body.get("text"))
    return web.json_response({"ok": True}, status=201)


async def add_referral(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    body = await json_body(request)
    await casework_of(request).desk.refer(
        user, request.match_info["id"], body.get("service"), body.get("note")
    )
    return web.json_response({"ok": True}, status=201)


async def transfer(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    body = await json_body(request)
    case = await casework_of(request).desk.transfer(
        user, request.match_info["id"], body.get("to_user"), body.get("to_team")
    )
    return web.json_response({"case": case.summary()})


async def resolve(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    body = await json_body(request)
    case = await casework_of(request).desk.resolve(user, request.match_info["id"], body.get("outcome"))
    return web.json_response({"case": case.summary()})


def _audit_query(request: web.Request) -> AuditQuery:
    q = request.query
    try:
        since = datetime.fromisoformat(q["since"]) if "since" in q else None
        limit = min(int(q.get("limit", "200")), 1000)
    except ValueError:
        raise BadInput("'since' must be an ISO date-time and 'limit' an integer") from None
    if since is not None and since.tzinfo is None:
        raise BadInput("'since' needs a time zone")
    return AuditQuery(
        q.get("actor"), q.get("action"), q.get("target"), q.get("outcome"), since, max(limit, 1)
    )


async def read_audit(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    cw = casework_of(request)
    await cw.desk.require(user, "audit.read", "audit.read")
    entries = await cw.store.query_audit(_audit_query(request))
    return web.json_response({"entries": [e.to_json() for e in entries]})


async def list_users(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    users = await casework_of(request).accounts.list(user)
    return web.json_response({"users": [u.public() for u in users]})


async def add_user(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    body = await json_body(request)
    created = await casework_of(request).accounts.add(
        user, body.get("username"), body.get("role"), body.get("teams"), body.get("password")
    )
    return web.json_response({"user": created.public()}, status=201)


async def disable_user(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    await casework_of(request).accounts.set_disabled(user, request.match_info["username"], True)
    return web.json_response({"ok": True})


async def enable_user(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    await casework_of(request).accounts.set_disabled(user, request.match_info["username"], False)
    return web.json_response({"ok": True})


async def reset_password(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    body = await json_body(request)
    await casework_of(request).accounts.reset_password(
        user, request.match_info["username"], body.get("password")
    )
    return web.json_response({"ok": True})


async def revoke_sessions(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    await casework_of(request).accounts.revoke_sessions(user, request.match_info["username"])
    return web.json_response({"ok": True})


async def reset_totp(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    await casework_of(request).accounts.reset_second_factor(user, request.match_info["username"])
    return web.json_response({"ok": True})


async def openapi(request: web.Request) -> web.StreamResponse:
    return web.json_response(document())


ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/auth/login", login),
    ("POST", "/auth/totp/enrol", totp_enrol),
    ("POST", "/auth/logout", logout),
    ("POST", "/heartbeat", heartbeat),
    ("GET", "/cases", list_cases),
    ("POST", "/queue/claim", claim_next),
    ("GET", "/cases/{id}", get_case),
    ("GET", "/cases/{id}/export", export_case),
    ("POST", "/cases/{id}/claim", claim),
    ("POST", "/cases/{id}/messages", send_message),
    ("POST", "/cases/{id}/notes", add_note),
    ("POST", "/cases/{id}/referrals", add_referral),
    ("POST", "/cases/{id}/transfer", transfer),
    ("POST", "/cases/{id}/resolve", resolve),
    ("GET", "/audit", read_audit),
    ("GET", "/users", list_users),
    ("POST", "/users", add_user),
    ("POST", "/users/{username}/disable", disable_user),
    ("POST", "/users/{username}/enable", enable_user),
    ("POST", "/users/{username}/password", reset_password),
    ("DELETE", "/users/{username}/sessions", revoke_sessions),
    ("DELETE", "/users/{username}/totp", reset_totp),
    ("GET", "/openapi.json", openapi),
]


def register(app: web.Application) -> None:
    if CASEWORK in app:  # key TOTP sealing and login tickets (until core passes the secret itself)
        casework = app[CASEWORK]
        if casework.settings.secret_key:
            casework.accounts.bind_secret(casework.settings.secret_key)
    for method, path, handler in ROUTES:
        app.router.add_route(method, PREFIX + path, guarded(handler))
