"""Probation domain values: enrolments, schedules, enrolment codes, check-in windows.

Schedules are kept as data (``ScheduleSpec``) rather than as rule objects so they can be
stored, shown and changed by an officer; :meth:`ScheduleSpec.rule` turns one into a
:mod:`caseline.schedule_rules` rule, which owns the time zone and DST arithmetic.
Nothing here does I/O.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from caseline.schedule_rules import Daily, Dates, Rule, Weekly
from casework.errors import BadInput

EnrolmentStatus = Literal["pending", "active", "paused", "ended"]
WindowStatus = Literal["open", "checked_in", "missed"]
ENROLMENT_STATUSES: tuple[EnrolmentStatus, ...] = ("pending", "active", "paused", "ended")

# Unambiguous characters only: no 0/O, 1/I/L, so a code read aloud or typed survives.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_RE = re.compile(r"^(?:LINK\s+)?([A-HJ-NP-Z2-9]{4})[-\s]?([A-HJ-NP-Z2-9]{4})$", re.IGNORECASE)
MAX_WINDOW_MINUTES = 7 * 24 * 60
ANSWER_FIELDS = {"mood": "mood", "attendance": "attendance", "note": "note", "need_talk": "needs_talk"}


def new_code() -> str:
    """A random code with at least one letter and one digit (so it never reads as a word)."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if any(c.isdigit() for c in code) and any(c.isalpha() for c in code):
            return code


def parse_code(text: str) -> tuple[str, bool] | None:
    """``(CODE, explicit)`` if ``text`` has the code format; explicit when it said "LINK"."""
    raw = text.strip()
    match = CODE_RE.match(raw)
    if match is None:
        return None
    code = (match.group(1) + match.group(2)).upper()
    explicit = raw.upper().startswith("LINK")
    if not explicit and not (any(c.isdigit() for c in code) and any(c.isalpha() for c in code)):
        return None
    return code, explicit


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """``daily`` or ``weekly`` at ``at`` (HH:MM local), or an explicit list of local ``dates``."""

    kind: Literal["daily", "weekly", "dates"]
    zone: str
    at: str = ""
    weekdays: tuple[int, ...] = ()
    dates: tuple[str, ...] = ()

    def rule(self) -> Rule:
        if self.kind == "daily":
            return Daily(time.fromisoformat(self.at), self.zone)
        if self.kind == "weekly":
            return Weekly(time.fromisoformat(self.at), self.zone, frozenset(self.weekdays))
        return Dates.of((datetime.fromisoformat(d) for d in self.dates), self.zone)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "zone": self.zone, "at": self.at, "weekdays": list(self.weekdays),
                "dates": list(self.dates)}

    def describe(self) -> str:
        if self.kind == "daily":
            return f"daily at {self.at} ({self.zone})"
        if self.kind == "weekly":
            names = ", ".join(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[d] for d in self.weekdays)
            return f"weekly on {names} at {self.at} ({self.zone})"
        return f"{len(self.dates)} dates ({self.zone})"

    @classmethod
    def parse(cls, raw: object) -> ScheduleSpec:
        """Validate an officer's input; every problem is a :class:`BadInput` naming the field."""
        if not isinstance(raw, dict):
            raise BadInput("'schedule' must be an object")
        kind, zone = raw.get("kind"), raw.get("zone", raw.get("tz"))
        if kind not in ("daily", "weekly", "dates"):
            raise BadInput("'schedule.kind' must be daily, weekly or dates")
        if not isinstance(zone, str) or not zone:
            raise BadInput("'schedule.zone' must be an IANA time zone, e.g. Europe/Bucharest")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BadInput(f"'schedule.zone' {zone!r} is not a known time zone") from None
        if kind == "dates":
            dates = raw.get("dates")
            if not isinstance(dates, list) or not dates or len(dates) > 366:
                raise BadInput("'schedule.dates' must be a list of 1 to 366 local date-times")
            parsed = []
            for d in dates:
                try:
                    value = datetime.fromisoformat(str(d))
                except ValueError:
                    raise BadInput(f"'schedule.dates' has a bad date-time {d!r}") from None
                if value.tzinfo is not None:
                    raise BadInput("'schedule.dates' are local wall times: leave out the offset")
                parsed.append(value.isoformat(timespec="minutes"))
            return cls("dates", zone, dates=tuple(sorted(set(parsed))))
        at = raw.get("at", raw.get("time"))
        try:
            at_time = time.fromisoformat(str(at))
        except ValueError:
            raise BadInput("'schedule.at' must be a local time HH:MM") from None
        weekdays: tuple[int, ...] = ()
        if kind == "weekly":
            days = raw.get("weekdays")
            if not isinstance(days, list) or not days or not all(isinstance(d, int) and 0 <= d <= 6 for d in days):
                raise BadInput("'schedule.weekdays' must list days 0 (Monday) to 6 (Sunday)")
            weekdays = tuple(sorted(set(days)))
        return cls(kind, zone, at=at_time.isoformat(timespec="minutes"), weekdays=weekdays)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScheduleSpec:
        return cls(data["kind"], str(data["zone"]), str(data.get("at", "")),
                   tuple(int(d) for d in data.get("weekdays", ())), tuple(str(d) for d in data.get("dates", ())))


@dataclass(frozen=True, slots=True)
class Enrolment:
    """One young person's check-in plan. ``alias`` is what the officer calls them: no real name needed."""

    id: str
    alias: str
    officer: str
    team: str
    schedule: ScheduleSpec
    window_minutes: int
    question_set: str
    status: EnrolmentStatus
    created_at: datetime
    contact_id: str | None = None
    channel: str | None = None
    linked_at: datetime | None = None
    lang: str | None = None
    revision: int = 0  # bumped whenever the plan changes, so re-planned job keys never collide with cancelled ones

    @property
    def linked(self) -> bool:
        return self.contact_id is not None

    def with_changes(self, **changes: Any) -> Enrolment:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "alias": self.alias, "officer": self.officer, "team": self.team,
            "schedule": self.schedule.to_json(), "window_minutes": self.window_minutes,
            "question_set": self.question_set, "status": self.status, "created_at": self.created_at.isoformat(),
            "linked": self.linked, "channel": self.channel,
            "linked_at": self.linked_at.isoformat() if self.linked_at else None, "lang": self.lang,
            "revision": self.revision,
        }


@dataclass(frozen=True, slots=True)
class EnrolmentCode:
    code: str
    enrolment_id: str
    expires_at: datetime
    used_by: str | None = None
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CheckinWindow:
    """One scheduled check-in: open from the reminder until ``closes_at``; ``occ_key`` is the local time."""

    enrolment_id: str
    occ_key: str
    opens_at: datetime
    closes_at: datetime
    status: WindowStatus = "open"
    mood: str | None = None
    attendance: str | None = None
    note: str | None = None
    needs_talk: str | None = None
    checked_in_at: datetime | None = None
    alerted: bool = False

    def to_json(self, *, with_note: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "occurrence": self.occ_key, "opens_at": self.opens_at.isoformat(),
            "closes_at": self.closes_at.isoformat(), "status": self.status, "mood": self.mood,
            "attendance": self.attendance, "needs_talk": self.needs_talk,
            "checked_in_at": self.checked_in_at.isoformat() if self.checked_in_at else None,
        }
        if with_note:
            out["note"] = self.note
        return out


@dataclass(frozen=True, slots=True)
class OfficerMessage:
    """Something the young person asked the bot to pass on: a note, or "I can't make it"."""

    id: str
    enrolment_id: str
    kind: Literal["note", "reschedule"]
    text: str
    at: datetime
    occ_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "text": self.text, "at": self.at.isoformat(),
                "occurrence": self.occ_key}
