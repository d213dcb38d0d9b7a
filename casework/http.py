"""Who is calling: bearer tokens for the API, cookie sessions (with CSRF) for the console.

A cookie session may only change something if the request also carries the session's
CSRF token (an ``X-CSRF-Token`` header from scripts, a ``csrf`` form field from
forms); a bearer token is never sent by a browser on its own, so it needs none.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from aiohttp import web

from casework.core import CASEWORK, Casework
from casework.errors import BadInput, CaseworkError, Forbidden, Unauthorized
from casework.model import Session, User

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "caseline_console"


def json_error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def casework_of(request: web.Request) -> Casework:
    return request.app[CASEWORK]


def _token(request: web.Request) -> tuple[str | None, str]:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip() or None, "bearer"
    return request.cookies.get(SESSION_COOKIE), "cookie"


async def principal(request: web.Request, form_csrf: str | None = None) -> tuple[User, Session, str]:
    """The logged-in user; raises Unauthorized, or Forbidden on a CSRF failure."""
    cw = casework_of(request)
    token, kind = _token(request)
    found = await cw.accounts.authenticate(token) if token else None
    if found is None or found[1].kind != kind or token is None:
        raise Unauthorized("log in first")
    user, session = found
    if kind == "cookie" and request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token") or form_csrf or ""
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            await cw.desk.audit.record(user.username, "csrf", request.path, "denied")
            raise Forbidden("missing or wrong CSRF token")
    await cw.desk.heartbeat(user)
    return user, session, token


class PayloadTooLarge(CaseworkError):
    status = 413


def client_address(request: web.Request) -> str:
    """The caller's address; behind a trusted proxy, the last X-Forwarded-For hop it added."""
    remote = request.remote or ""
    trusted = casework_of(request).config.trusted_proxies
    if remote in trusted:
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        for hop in reversed(hops):
            if hop not in trusted:
                return hop[:64]
    return remote


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, refusing bodies over ``max_json_bytes`` (413) before parsing."""
    limit = casework_of(request).config.max_json_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"a JSON body may be at most {limit} bytes")
    raw = await request.read()
    if len(raw) > limit:
        raise PayloadTooLarge(f"a JSON body may be at most {limit} bytes")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise BadInput("body must be JSON") from None
    if not isinstance(body, dict):
        raise BadInput("body must be a JSON object")
    return body


def set_session_cookie(response: web.StreamResponse, token: str, secure: bool, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, secure=secure, samesite="Strict", path="/", max_age=max_age
    )
