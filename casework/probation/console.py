"""Console pages under ``/console/probation``: the officer's enrolments, enrol form, one record.

Same rules as the rest of the console: server-rendered HTML through ``html.escape``, no
inline script or style, forms that post with the session's CSRF token and redirect, and
every decision (permission, audit) taken by :class:`ProbationService`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from casework.console.pages import e, layout
from casework.errors import BadInput, CaseworkError, Unauthorized
from casework.http import principal
from casework.probation.api import PROBATION
from casework.probation.charts import calendar_svg, mood_svg
from casework.probation.model import Enrolment
from casework.probation.service import ProbationService, Record, link_for

Page = Callable[[web.Request], Awaitable[web.StreamResponse]]
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", headers={"Cache-Control": "no-store"})


def _guard(handler: Callable[[web.Request, ProbationService], Awaitable[web.StreamResponse]]) -> Page:
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request, request.app[PROBATION])
        except Unauthorized:
            raise web.HTTPSeeOther("/console/login") from None
        except CaseworkError as exc:
            return _html(layout(f"Error {exc.status}", f'<p class="error" role="alert">{e(exc.reason)}</p>'
                                '<p><a href="/console/probation">Back to check-ins</a></p>'), exc.status)

    return run


def _rows(enrolments: list[Enrolment]) -> str:
    if not enrolments:
        return "<p>No one enrolled yet.</p>"
    rows = "".join(
        f'<tr><td><a href="/console/probation/{e(x.id)}">{e(x.alias)}</a></td><td>{e(x.status)}</td>'
        f"<td>{e(x.schedule.describe())}</td><td>{'yes' if x.linked else 'waiting for the code'}</td></tr>"
        for x in enrolments
    )
    return ("<table><thead><tr><th>Alias</th><th>Status</th><th>Schedule</th><th>Linked</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _enrol_form(csrf: str) -> str:
    days = "".join(f'<label><input type="checkbox" name="weekdays" value="{i}"> {d}</label> '
                   for i, d in enumerate(DAYS))
    return (
        '<h2>Enrol a young person</h2><form method="post" action="/console/probation" class="stack">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        '<label for="alias">Alias (no real name needed)</label><input id="alias" name="alias" required maxlength="80">'
        '<label for="kind">Schedule</label><select id="kind" name="kind"><option value="daily">Daily</option>'
        '<option value="weekly">Weekly on chosen days</option><option value="dates">On dates</option></select>'
        f"<fieldset><legend>Days (weekly)</legend>{days}</fieldset>"
        '<label for="at">Local time</label><input id="at" name="at" type="time" value="09:00">'
        '<label for="dates">Dates (one local date-time per line, e.g. 2027-03-05T16:00)</label>'
        '<textarea id="dates" name="dates" rows="3"></textarea>'
        '<label for="zone">Time zone</label><input id="zone" name="zone" value="Europe/Bucharest" required>'
        '<label for="window_hours">Check-in window (hours)</label>'
        '<input id="window_hours" name="window_hours" type="number" min="1" max="168" value="24">'
        '<button type="submit">Enrol and get a code</button></form>'
    )


def _code_block(record: Record, service: ProbationService) -> str:
    now = service.now()
    live = [c for c in record.codes if c.used_by is None and c.expires_at > now]
    if record.enrolment.linked or not live:
        return ""
    code = live[-1]
    links = link_for(code.code, service.bot_username)
    return (
        '<section aria-labelledby="code-h"><h2 id="code-h">Enrolment code</h2>'
        f'<p class="code"><strong>{e(code.code)}</strong> (expires {e(f"{code.expires_at:%Y-%m-%d %H:%M} UTC")})</p>'
        f'<p>Telegram: <a href="{e(links["telegram"])}">{e(links["telegram"])}</a></p>'
        f'<p>WhatsApp or Viber: send <kbd>{e(links["whatsapp_viber"])}</kbd> to the bot.</p></section>'
    )


def _actions(record: Record, csrf: str) -> str:
    x = record.enrolment
    wanted = {"active": ["pause", "end"], "paused": ["resume", "end"], "pending": ["code", "end"],
              "ended": []}[x.status]
    if x.status == "active" and not x.linked:
        wanted.insert(0, "code")
    labels = {"pause": "Pause", "resume": "Resume", "end": "End enrolment", "code": "New code"}
    return "".join(
        f'<form method="post" action="/console/probation/{e(x.id)}/{a}" class="inline">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}"><button type="submit">{labels[a]}</button></form>'
        for a in wanted
    )


def _history(record: Record) -> str:
    rows = "".join(
        f"<tr><td>{e(w.occ_key)}</td><td>{e(w.status.replace('_', ' '))}</td><td>{e(w.mood or '')}</td>"
        f"<td>{e(w.attendance or '')}</td><td>{e(w.needs_talk or '')}</td><td>{e(w.note or '')}</td></tr>"
        for w in reversed(record.windows)
    )
    messages = "".join(
        f"<li><strong>{e('Can’t make it' if m.kind == 'reschedule' else 'Message')}</strong> "
        f"{e(f'{m.at:%Y-%m-%d %H:%M}')}: {e(m.text)}</li>" for m in record.messages
    )
    return (
        "<h2>Check-ins</h2><table><thead><tr><th>When (local)</th><th>Status</th><th>Mood</th><th>Attendance</th>"
        f"<th>Needs to talk</th><th>Note for the officer</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<h2>Messages from the young person</h2><ul>{messages or '<li>None</li>'}</ul>"
    )


async def index(request: web.Request, service: ProbationService) -> web.StreamResponse:
    user, session, _token = await principal(request)
    found = await service.list(user)
    body = _rows(found) + (_enrol_form(session.csrf) if user.role == "probation_officer" else "")
    return _html(layout("Probation check-ins", body, user, session.csrf, "probation"))


def _form_body(form: Any) -> dict[str, Any]:
    kind = str(form.get("kind", "daily"))
    schedule: dict[str, Any] = {"kind": kind, "zone": str(form.get("zone", "")), "at": str(form.get("at", ""))}
    if kind == "weekly":
        try:
            schedule["weekdays"] = [int(v) for v in form.getall("weekdays", [])]
        except ValueError:
            raise BadInput("'weekdays' must be numbers 0 to 6") from None
    if kind == "dates":
        schedule["dates"] = [d.strip() for d in str(form.get("dates", "")).splitlines() if d.strip()]
    try:
        hours = float(str(form.get("window_hours", "24")))
    except ValueError:
        raise BadInput("the window must be a number of hours") from None
    return {"alias": str(form.get("alias", "")), "schedule": schedule, "window_hours": hours}


async def enrol(request: web.Request, service: ProbationService) -> web.StreamResponse:
    form = await request.post()
    user, _session, _token = await principal(request, str(form.get("csrf", "")))
    enrolment, _links = await service.enrol(user, _form_body(form))
    raise web.HTTPSeeOther(f"/console/probation/{enrolment.id}")


async def detail(request: web.Request, service: ProbationService) -> web.StreamResponse:
    user, session, _token = await principal(request)
    record = await service.record(user, request.match_info["id"])
    x = record.enrolment
    today = service.now().astimezone(ZoneInfo(x.schedule.zone)).date()
    rate = "no check-ins closed yet" if record.rate is None else f"{record.rate:.0%}"
    body = (
        f"<p>{e(x.schedule.describe())}, window {x.window_minutes // 60} h · status <strong>{e(x.status)}</strong>"
        f" · {e('linked on ' + (x.channel or '')) if x.linked else 'not linked yet'}</p>"
        f"<p>Attendance rate: <strong>{e(rate)}</strong> · {e(record.next_text)}</p>"
        f"{_code_block(record, service)}<div class=\"actions\">{_actions(record, session.csrf)}"
        f'<a href="/console/probation/{e(x.id)}/export.csv" download>Export compliance record (CSV)</a></div>'
        f"<h2>Calendar</h2>{calendar_svg(record.windows, x.schedule.zone, today)}"
        f"<h2>Mood</h2>{mood_svg(record.windows)}{_history(record)}"
    )
    return _html(layout(f"Check-ins: {x.alias}", body, user, session.csrf, "probation-record"))


def _action(action: str) -> Callable[[web.Request, ProbationService], Awaitable[web.StreamResponse]]:
    async def run(request: web.Request, service: ProbationService) -> web.StreamResponse:
        form = await request.post()
        user, _session, _token = await principal(request, str(form.get("csrf", "")))
        eid = request.match_info["id"]
        if action == "code":
            await service.new_code(user, eid)
        else:
            await service.set_status(user, eid, action)
        raise web.HTTPSeeOther(f"/console/probation/{eid}")

    return run


async def export(request: web.Request, service: ProbationService) -> web.StreamResponse:
    user, _session, _token = await principal(request)
    enrolment, body = await service.export_csv(user, request.match_info["id"])
    return web.Response(text=body, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="checkins-{enrolment.id}.csv"', "Cache-Control": "no-store"})


def register(app: web.Application) -> None:
    app.router.add_get("/console/probation", _guard(index))
    app.router.add_post("/console/probation", _guard(enrol))
    app.router.add_get("/console/probation/{id}", _guard(detail))
    app.router.add_get("/console/probation/{id}/export.csv", _guard(export))
    for action in ("pause", "resume", "end", "code"):
        app.router.add_post(f"/console/probation/{{id}}/{action}", _guard(_action(action)))
