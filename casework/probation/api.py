"""Probation routes under ``/api/v1/probation``: enrol, list, read, change, pause/resume/end, export.

Handlers parse and render only; :class:`~casework.probation.service.ProbationService` decides
and audits. Documented in :data:`PATHS`, which ``casework/openapi.py`` merges in.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from casework.api import PREFIX, Handler, guarded
from casework.http import json_body, principal
from casework.probation.service import ProbationService, Record

PROBATION = web.AppKey("probation", ProbationService)
BASE = "/probation/enrolments"


def service_of(request: web.Request) -> ProbationService:
    return request.app[PROBATION]


def record_json(record: Record) -> dict[str, Any]:
    return {
        "enrolment": record.enrolment.to_json(),
        "attendance_rate": record.rate,
        "next": record.next_text,
        "checkins": [w.to_json(with_note=True) for w in record.windows],
        "messages": [m.to_json() for m in record.messages],
        "codes": [{"expires_at": c.expires_at.isoformat(), "used": c.used_by is not None} for c in record.codes],
    }


async def list_enrolments(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    found = await service_of(request).list(user)
    return web.json_response({"enrolments": [e.to_json() for e in found]})


async def enrol(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    enrolment, links = await service_of(request).enrol(user, await json_body(request))
    return web.json_response({"enrolment": enrolment.to_json(), "link": links}, status=201)


async def get_enrolment(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    return web.json_response(record_json(await service_of(request).record(user, request.match_info["id"])))


async def change(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    changed = await service_of(request).change(user, request.match_info["id"], await json_body(request))
    return web.json_response({"enrolment": changed.to_json()})


def _status(action: str) -> Handler:
    async def run(request: web.Request) -> web.StreamResponse:
        user, _session, _token = await principal(request)
        changed = await service_of(request).set_status(user, request.match_info["id"], action)
        return web.json_response({"enrolment": changed.to_json()})

    return run


async def new_code(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    return web.json_response({"link": await service_of(request).new_code(user, request.match_info["id"])},
                             status=201)


async def export(request: web.Request) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    enrolment, body = await service_of(request).export_csv(user, request.match_info["id"])
    return web.Response(
        text=body, content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="checkins-{enrolment.id}.csv"',
                 "Cache-Control": "no-store"},
    )


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", BASE, list_enrolments),
    ("POST", BASE, enrol),
    ("GET", BASE + "/{id}", get_enrolment),
    ("POST", BASE + "/{id}", change),
    ("POST", BASE + "/{id}/pause", _status("pause")),
    ("POST", BASE + "/{id}/resume", _status("resume")),
    ("POST", BASE + "/{id}/end", _status("end")),
    ("POST", BASE + "/{id}/code", new_code),
    ("GET", BASE + "/{id}/export.csv", export),
]


def register(app: web.Application) -> None:
    for method, path, handler in ROUTES:
        app.router.add_route(method, PREFIX + path, guarded(handler))


def _op(
    summary: str, ok: str = "200", body: bool = False, csv: bool = False, params: bool = True
) -> dict[str, Any]:
    error = {"description": "Error",
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    media = "text/csv" if csv else "application/json"
    op: dict[str, Any] = {
        "summary": summary, "tags": ["probation"],
        "responses": {ok: {"description": "OK",
                           "content": {media: {"schema": {"type": "string" if csv else "object"}}}},
                      **{str(c): error for c in (400, 401, 403, 404, 409)}},
    }
    if params:
        op["parameters"] = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "properties": {
                "alias": {"type": "string"},
                "schedule": {"type": "object", "properties": {
                    "kind": {"enum": ["daily", "weekly", "dates"]}, "zone": {"type": "string"},
                    "at": {"type": "string"}, "weekdays": {"type": "array", "items": {"type": "integer"}},
                    "dates": {"type": "array", "items": {"type": "string"}}}},
                "window_minutes": {"type": "integer"}, "window_hours": {"type": "number"},
                "question_set": {"type": "string"}}}}}}
    return op


def paths() -> dict[str, dict[str, Any]]:
    """OpenAPI path items for these routes (merged into ``casework.openapi.PATHS``)."""
    p = "/api/v1" + BASE
    return {
        p: {"get": _op("The caller's enrolments", params=False),
            "post": _op("Enrol a young person; returns a one-time code and deep link", "201", body=True,
                        params=False)},
        p + "/{id}": {"get": _op("An enrolment with its check-in history (audited)"),
                      "post": _op("Change alias, schedule or window", body=True)},
        p + "/{id}/pause": {"post": _op("Pause reminders")},
        p + "/{id}/resume": {"post": _op("Resume reminders")},
        p + "/{id}/end": {"post": _op("End the enrolment and cancel its jobs")},
        p + "/{id}/code": {"post": _op("Issue a new one-time enrolment code", "201")},
        p + "/{id}/export.csv": {"get": _op("Compliance record as CSV, no free text (audited)", csv=True)},
    }
