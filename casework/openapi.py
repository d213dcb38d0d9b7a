"""The OpenAPI 3.1 description of ``/api/v1``; a test holds it and the router to the same routes."""

from __future__ import annotations

from typing import Any

ERROR = {
    "description": "Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
ERRORS = {str(code): ERROR for code in (400, 401, 403, 404, 409, 413, 429)}


def _op(
    summary: str,
    *,
    body: dict[str, Any] | None = None,
    ok: str = "200",
    tag: str = "cases",
    params: list[dict[str, Any]] | None = None,
    public: bool = False,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {
            ok: {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
            **ERRORS,
        },
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    if public:
        op["security"] = []
    return op


def _obj(required: list[str], **props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


STR: dict[str, Any] = {"type": "string"}
CASE_ID = [{"name": "id", "in": "path", "required": True, "schema": STR}]
USERNAME = [{"name": "username", "in": "path", "required": True, "schema": STR}]
QUERY = [
    {"name": n, "in": "query", "required": False, "schema": STR}
    for n in ("actor", "action", "target", "outcome", "since", "limit")
]

PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/auth/login": {
        "post": _op(
            "Log in; returns a bearer token",
            tag="auth",
            public=True,
            body=_obj(
                ["username", "password"],
                username=STR,
                password=STR,
                totp={"type": "string", "description": "6-digit code, when the account has a second factor"},
            ),
        )
    },
    "/api/v1/auth/totp/enrol": {
        "post": _op(
            "Start setting up an authenticator app; the secret and otpauth URI are shown once, and the"
            " first login with a code from it confirms it",
            tag="auth",
            public=True,
            body=_obj(["username", "password"], username=STR, password=STR),
        )
    },
    "/api/v1/auth/logout": {"post": _op("End this token's session", tag="auth")},
    "/api/v1/heartbeat": {"post": _op("Mark the worker active and renew their claims", tag="auth")},
    "/api/v1/cases": {
        "get": _op(
            "The queue of the caller's teams, by severity then waiting time",
            params=[
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": ["open", "waiting", "claimed", "awaiting_user", "resolved"]},
                }
            ],
        )
    },
    "/api/v1/queue/claim": {"post": _op("Claim the head of the caller's queue")},
    "/api/v1/cases/{id}": {"get": _op("A case with its transcript (audited)", params=CASE_ID)},
    "/api/v1/cases/{id}/export": {"get": _op("Export a case and its transcript (audited)", params=CASE_ID)},
    "/api/v1/cases/{id}/claim": {
        "post": _op("Claim a waiting case (a lease renewed by activity)", params=CASE_ID)
    },
    "/api/v1/cases/{id}/messages": {
        "post": _op(
            "Reply to the contact on their channel", ok="202", params=CASE_ID, body=_obj(["text"], text=STR)
        )
    },
    "/api/v1/cases/{id}/notes": {
        "post": _op("Add an internal note", ok="201", params=CASE_ID, body=_obj(["text"], text=STR))
    },
    "/api/v1/cases/{id}/referrals": {
        "post": _op(
            "Refer to a configured service",
            ok="201",
            params=CASE_ID,
            body=_obj(["service"], service=STR, note=STR),
        )
    },
    "/api/v1/cases/{id}/transfer": {
        "post": _op(
            "Transfer to a colleague or a team", params=CASE_ID, body=_obj([], to_user=STR, to_team=STR)
        )
    },
    "/api/v1/cases/{id}/resolve": {
        "post": _op(
            "Resolve with an outcome; the bot takes over again",
            params=CASE_ID,
            body=_obj(["outcome"], outcome=STR),
        )
    },
    "/api/v1/audit": {"get": _op("Read the append-only audit log, newest first", tag="audit", params=QUERY)},
    "/api/v1/users": {
        "get": _op("List accounts", tag="users"),
        "post": _op(
            "Create an account",
            tag="users",
            ok="201",
            body=_obj(
                ["username", "role", "teams", "password"],
                username=STR,
                role={"enum": ["case_worker", "probation_officer", "supervisor", "admin"]},
                teams={"type": "array", "items": STR},
                password=STR,
            ),
        ),
    },
    "/api/v1/users/{username}/disable": {"post": _op("Disable an account", tag="users", params=USERNAME)},
    "/api/v1/users/{username}/enable": {"post": _op("Enable an account", tag="users", params=USERNAME)},
    "/api/v1/users/{username}/password": {
        "post": _op("Set a new password", tag="users", params=USERNAME, body=_obj(["password"], password=STR))
    },
    "/api/v1/users/{username}/sessions": {
        "delete": _op("End every session of an account", tag="users", params=USERNAME)
    },
    "/api/v1/users/{username}/totp": {
        "delete": _op("Remove an account's second factor (a lost phone)", tag="users", params=USERNAME)
    },
    "/api/v1/openapi.json": {"get": _op("This document", tag="meta", public=True)},
}


def _probation_paths() -> dict[str, dict[str, Any]]:
    """Probation check-in routes (casework/probation/api.py) document themselves."""
    from casework.probation.api import paths

    return paths()


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Caseline casework API",
            "version": "1.0.0",
            "description": "Case-worker queue: cases, replies, notes, transfers, audit and accounts.",
        },
        "paths": {**PATHS, **_probation_paths()},  # probation check-ins
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": _obj(["error"], error=STR)},
        },
    }
