"""Officer actions on enrolments, with the permission check and the audit in one place.

Both the JSON API and the console call this class (as both call the case desk), so the
rules hold for every route: a probation officer sees and changes their own enrolments, a
supervisor those of their teams; every read of a record and every export is audited.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from casework.desk import Desk, clean_text
from casework.errors import BadInput, Conflict, Forbidden, NotFound
from casework.model import User
from casework.probation.export import attendance_rate, compliance_csv
from casework.probation.extension import ProbationExtension
from casework.probation.model import (
    MAX_WINDOW_MINUTES,
    CheckinWindow,
    Enrolment,
    EnrolmentCode,
    OfficerMessage,
    ScheduleSpec,
    new_code,
    new_id,
)
from casework.probation.planner import Planner
from casework.probation.ports import ProbationStore

CODE_LIFETIME = timedelta(days=7)
DEFAULT_WINDOW_MINUTES = 24 * 60
BOT_USERNAME_ENV = "CASELINE_TELEGRAM_BOT_USERNAME"


@dataclass(frozen=True, slots=True)
class Record:
    enrolment: Enrolment
    windows: list[CheckinWindow]
    messages: list[OfficerMessage]
    codes: list[EnrolmentCode]
    next_text: str

    @property
    def rate(self) -> float | None:
        return attendance_rate(self.windows)


def link_for(code: str, bot_username: str) -> dict[str, str]:
    return {
        "code": code,
        "telegram": f"https://t.me/{bot_username}?start={code}",
        "whatsapp_viber": f"LINK {code}",
    }


class ProbationService:
    def __init__(
        self, store: ProbationStore, planner: Planner, desk: Desk, extension: ProbationExtension,
        bot_username: str | None = None,
    ) -> None:
        self.store = store
        self.planner = planner
        self.desk = desk
        self.extension = extension
        self.bot_username = bot_username or os.environ.get(BOT_USERNAME_ENV) or "YOUR_BOT_USERNAME"

    @property
    def clock(self) -> Any:
        return self.desk.clock

    async def _require(self, actor: User, permission: str, action: str) -> None:
        await self.desk.require(actor, permission, action)

    async def _mine(self, actor: User, enrolment_id: str, permission: str, action: str) -> Enrolment:
        await self._require(actor, permission, action)
        found = await self.store.get_enrolment(enrolment_id)
        visible = found is not None and (
            found.officer == actor.username or (actor.role == "supervisor" and found.team in actor.teams)
        )
        if found is None or not visible:
            await self.desk.audit.record(actor.username, action, enrolment_id, "denied", role=actor.role)
            raise NotFound("no such enrolment")
        return found

    async def list(self, actor: User) -> list[Enrolment]:
        await self._require(actor, "probation.manage", "probation.list")
        if actor.role == "supervisor":
            return [e for e in await self.store.list_enrolments() if e.team in actor.teams]
        return await self.store.list_enrolments(officer=actor.username)

    async def enrol(self, actor: User, body: dict[str, Any]) -> tuple[Enrolment, dict[str, str]]:
        await self._require(actor, "probation.manage", "probation.enrol")
        if actor.role != "probation_officer":
            raise Forbidden("only a probation officer can enrol a young person")
        alias = clean_text(body.get("alias"), "alias", 80)
        schedule = ScheduleSpec.parse(body.get("schedule"))
        window = _window_minutes(body)
        question_set = body.get("question_set") or "checkin"
        if not isinstance(question_set, str) or self.extension.engine().flow(question_set) is None:
            raise BadInput("'question_set' must name a flow, e.g. checkin")
        team = actor.teams[0] if actor.teams else self.desk.config.default_team
        enrolment = Enrolment(new_id("enr"), alias, actor.username, team, schedule, window, question_set,
                              "pending", self.clock())
        await self.store.add_enrolment(enrolment)
        links = await self._issue_code(enrolment)
        await self.desk.audit.record(actor.username, "probation.enrol", enrolment.id, schedule=schedule.kind)
        return enrolment, links

    async def _issue_code(self, enrolment: Enrolment) -> dict[str, str]:
        code = new_code()
        expires = self.clock() + CODE_LIFETIME
        await self.store.add_code(EnrolmentCode(code, enrolment.id, expires))
        return {**link_for(code, self.bot_username), "expires_at": expires.isoformat()}

    async def new_code(self, actor: User, enrolment_id: str) -> dict[str, str]:
        enrolment = await self._mine(actor, enrolment_id, "probation.manage", "probation.code")
        if enrolment.status == "ended":
            raise Conflict("the enrolment has ended")
        links = await self._issue_code(enrolment)
        await self.desk.audit.record(actor.username, "probation.code", enrolment.id)
        return links

    async def set_status(self, actor: User, enrolment_id: str, action: str) -> Enrolment:
        enrolment = await self._mine(actor, enrolment_id, "probation.manage", f"probation.{action}")
        target = {"pause": "paused", "resume": "active", "end": "ended"}[action]
        if enrolment.status == "ended":
            raise Conflict("the enrolment has ended")
        if action == "resume" and enrolment.status != "paused":
            raise Conflict("only a paused enrolment can be resumed")
        if action == "pause" and enrolment.status != "active":
            raise Conflict("only an active enrolment can be paused")
        changed = enrolment.with_changes(status=target, revision=enrolment.revision + 1)
        await self.store.save_enrolment(changed)
        if target == "active":
            await self.planner.replan(changed)
        else:
            await self.planner.cancel(changed.id)
        await self.desk.audit.record(actor.username, f"probation.{action}", enrolment.id)
        return changed

    async def change(self, actor: User, enrolment_id: str, body: dict[str, Any]) -> Enrolment:
        enrolment = await self._mine(actor, enrolment_id, "probation.manage", "probation.change")
        if enrolment.status == "ended":
            raise Conflict("the enrolment has ended")
        changes: dict[str, Any] = {}
        if "alias" in body:
            changes["alias"] = clean_text(body.get("alias"), "alias", 80)
        if "schedule" in body:
            changes["schedule"] = ScheduleSpec.parse(body.get("schedule"))
        if "window_minutes" in body or "window_hours" in body:
            changes["window_minutes"] = _window_minutes(body)
        if not changes:
            raise BadInput("send one of 'alias', 'schedule', 'window_minutes' or 'window_hours'")
        changed = enrolment.with_changes(**changes, revision=enrolment.revision + 1)
        await self.store.save_enrolment(changed)
        await self.planner.replan(changed)
        await self.desk.audit.record(actor.username, "probation.change", enrolment.id, fields=sorted(changes))
        return changed

    async def record(self, actor: User, enrolment_id: str) -> Record:
        enrolment = await self._mine(actor, enrolment_id, "probation.manage", "probation.view")
        windows = await self.store.windows(enrolment.id)
        messages = await self.store.messages(enrolment.id)
        codes = await self.store.codes_for(enrolment.id)
        await self.desk.audit.record(actor.username, "probation.view", enrolment.id)
        next_text = await self.extension.next_text(enrolment, "en")
        return Record(enrolment, windows, messages, codes, next_text)

    async def export_csv(self, actor: User, enrolment_id: str) -> tuple[Enrolment, str]:
        enrolment = await self._mine(actor, enrolment_id, "probation.export", "probation.export")
        windows = await self.store.windows(enrolment.id)
        await self.desk.audit.record(actor.username, "probation.export", enrolment.id, rows=len(windows))
        return enrolment, compliance_csv(enrolment, windows)

    def now(self) -> datetime:
        value: datetime = self.clock()
        return value


def _window_minutes(body: dict[str, Any]) -> int:
    if "window_minutes" in body:
        raw: Any = body.get("window_minutes")
    elif "window_hours" in body:
        hours = body.get("window_hours")
        raw = hours * 60 if isinstance(hours, int | float) and not isinstance(hours, bool) else None
    else:
        return DEFAULT_WINDOW_MINUTES
    if not isinstance(raw, int | float) or isinstance(raw, bool) or not 15 <= raw <= MAX_WINDOW_MINUTES:
        raise BadInput(f"the check-in window must be 15 to {MAX_WINDOW_MINUTES} minutes")
    return int(raw)
