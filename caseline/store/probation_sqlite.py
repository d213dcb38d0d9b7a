"""SQLite adapter of the probation store, on the process's shared :class:`SqliteDb`.

Every operation is one ``SqliteDb.run`` transaction, and the once-only transitions
(redeeming a code, open -> missed, alerting) are conditional updates whose row count says
whether this call made the change, which is what lets the scheduler's at-least-once
handlers act once.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from caseline.store.sqlite import SqliteDb
from casework.probation.model import (
    ANSWER_FIELDS,
    CheckinWindow,
    Enrolment,
    EnrolmentCode,
    EnrolmentStatus,
    OfficerMessage,
    ScheduleSpec,
)
from casework.probation.ports import ProbationStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS probation_enrolments (
    id TEXT PRIMARY KEY,
    alias TEXT NOT NULL,
    officer TEXT NOT NULL,
    team TEXT NOT NULL,
    schedule TEXT NOT NULL,
    window_minutes INTEGER NOT NULL,
    question_set TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    contact_id TEXT,
    channel TEXT,
    linked_at TEXT,
    lang TEXT,
    revision INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS probation_enrolments_officer ON probation_enrolments (officer, created_at);
CREATE INDEX IF NOT EXISTS probation_enrolments_contact ON probation_enrolments (contact_id, created_at);
CREATE TABLE IF NOT EXISTS probation_codes (
    code TEXT PRIMARY KEY,
    enrolment_id TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_by TEXT,
    used_at TEXT
);
CREATE TABLE IF NOT EXISTS probation_windows (
    enrolment_id TEXT NOT NULL,
    occ_key TEXT NOT NULL,
    opens_at TEXT NOT NULL,
    closes_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    mood TEXT,
    attendance TEXT,
    note TEXT,
    needs_talk TEXT,
    checked_in_at TEXT,
    alerted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (enrolment_id, occ_key)
);
CREATE INDEX IF NOT EXISTS probation_windows_opens ON probation_windows (enrolment_id, opens_at);
CREATE TABLE IF NOT EXISTS probation_messages (
    id TEXT PRIMARY KEY,
    enrolment_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    at TEXT NOT NULL,
    occ_key TEXT
);
CREATE INDEX IF NOT EXISTS probation_messages_enrolment ON probation_messages (enrolment_id, at);
"""


def _ts(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _req(value: str) -> datetime:
    found = _dt(value)
    assert found is not None
    return found


def _enrolment(r: sqlite3.Row) -> Enrolment:
    return Enrolment(
        r["id"], r["alias"], r["officer"], r["team"], ScheduleSpec.from_json(json.loads(r["schedule"])),
        int(r["window_minutes"]), r["question_set"], r["status"], _req(r["created_at"]), r["contact_id"],
        r["channel"], _dt(r["linked_at"]), r["lang"], int(r["revision"]),
    )


def _window(r: sqlite3.Row) -> CheckinWindow:
    return CheckinWindow(
        r["enrolment_id"], r["occ_key"], _req(r["opens_at"]), _req(r["closes_at"]), r["status"], r["mood"],
        r["attendance"], r["note"], r["needs_talk"], _dt(r["checked_in_at"]), bool(r["alerted"]),
    )


def _code(r: sqlite3.Row) -> EnrolmentCode:
    return EnrolmentCode(r["code"], r["enrolment_id"], _req(r["expires_at"]), r["used_by"], _dt(r["used_at"]))


class SqliteProbationStore(ProbationStore):
    def __init__(self, db: SqliteDb) -> None:
        self.db = db

    async def open(self) -> None:
        await self.db.open()
        await self.db.executescript(SCHEMA)

    async def add_enrolment(self, enrolment: Enrolment) -> None:
        e = enrolment
        await self.db.run(lambda c: c.execute(
            "INSERT INTO probation_enrolments (id, alias, officer, team, schedule, window_minutes, question_set,"
            " status, created_at, contact_id, channel, linked_at, lang, revision) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (e.id, e.alias, e.officer, e.team, json.dumps(e.schedule.to_json()), e.window_minutes, e.question_set,
             e.status, _ts(e.created_at), e.contact_id, e.channel, _ts(e.linked_at) if e.linked_at else None,
             e.lang, e.revision),
        ))

    async def save_enrolment(self, enrolment: Enrolment) -> None:
        e = enrolment
        await self.db.run(lambda c: c.execute(
            "UPDATE probation_enrolments SET alias = ?, schedule = ?, window_minutes = ?, question_set = ?,"
            " status = ?, revision = ? WHERE id = ?",
            (e.alias, json.dumps(e.schedule.to_json()), e.window_minutes, e.question_set, e.status, e.revision,
             e.id),
        ))

    async def get_enrolment(self, enrolment_id: str) -> Enrolment | None:
        row = await self.db.fetchone("SELECT * FROM probation_enrolments WHERE id = ?", (enrolment_id,))
        return None if row is None else _enrolment(row)

    async def list_enrolments(
        self, officer: str | None = None, statuses: Sequence[EnrolmentStatus] | None = None
    ) -> list[Enrolment]:
        sql, params = "SELECT * FROM probation_enrolments WHERE 1 = 1", []
        if officer is not None:
            sql += " AND officer = ?"
            params.append(officer)
        if statuses is not None:
            if not statuses:
                return []
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            params.extend(statuses)
        rows = await self.db.fetchall(sql + " ORDER BY created_at DESC, id", params)
        return [_enrolment(r) for r in rows]

    async def link(self, enrolment_id: str, contact_id: str, channel: str, lang: str, now: datetime) -> bool:
        return await self.db.run(lambda c: c.execute(
            "UPDATE probation_enrolments SET contact_id = ?, channel = ?, lang = ?,"
            " linked_at = COALESCE(linked_at, ?), status = CASE WHEN status = 'pending' THEN 'active' ELSE status END"
            " WHERE id = ? AND status != 'ended' AND (contact_id IS NULL OR contact_id = ?)",
            (contact_id, channel, lang, _ts(now), enrolment_id, contact_id),
        ).rowcount == 1)

    async def enrolment_for_contact(self, contact_id: str) -> Enrolment | None:
        row = await self.db.fetchone(
            "SELECT * FROM probation_enrolments WHERE contact_id = ? AND status IN ('active', 'paused')"
            " ORDER BY linked_at DESC, id LIMIT 1",
            (contact_id,),
        )
        return None if row is None else _enrolment(row)

    async def add_code(self, code: EnrolmentCode) -> None:
        await self.db.run(lambda c: c.execute(
            "INSERT INTO probation_codes (code, enrolment_id, expires_at) VALUES (?,?,?)",
            (code.code, code.enrolment_id, _ts(code.expires_at)),
        ))

    async def redeem_code(self, code: str, contact_id: str, now: datetime) -> str | None:
        def op(c: sqlite3.Connection) -> str | None:
            c.execute(
                "UPDATE probation_codes SET used_by = ?, used_at = ? WHERE code = ? AND used_by IS NULL"
                " AND expires_at > ?",
                (contact_id, _ts(now), code, _ts(now)),
            )
            row = c.execute(
                "SELECT enrolment_id FROM probation_codes WHERE code = ? AND used_by = ?", (code, contact_id)
            ).fetchone()
            return None if row is None else str(row["enrolment_id"])

        return await self.db.run(op)

    async def codes_for(self, enrolment_id: str) -> list[EnrolmentCode]:
        rows = await self.db.fetchall(
            "SELECT * FROM probation_codes WHERE enrolment_id = ? ORDER BY expires_at", (enrolment_id,)
        )
        return [_code(r) for r in rows]

    async def open_window(self, window: CheckinWindow) -> CheckinWindow:
        w = window

        def op(c: sqlite3.Connection) -> CheckinWindow:
            c.execute(
                "INSERT INTO probation_windows (enrolment_id, occ_key, opens_at, closes_at, status)"
                " VALUES (?,?,?,?,?) ON CONFLICT (enrolment_id, occ_key) DO NOTHING",
                (w.enrolment_id, w.occ_key, _ts(w.opens_at), _ts(w.closes_at), w.status),
            )
            return _window(c.execute(
                "SELECT * FROM probation_windows WHERE enrolment_id = ? AND occ_key = ?", (w.enrolment_id, w.occ_key)
            ).fetchone())

        return await self.db.run(op)

    async def get_window(self, enrolment_id: str, occ_key: str) -> CheckinWindow | None:
        row = await self.db.fetchone(
            "SELECT * FROM probation_windows WHERE enrolment_id = ? AND occ_key = ?", (enrolment_id, occ_key)
        )
        return None if row is None else _window(row)

    async def window_at(self, enrolment_id: str, now: datetime) -> CheckinWindow | None:
        row = await self.db.fetchone(
            "SELECT * FROM probation_windows WHERE enrolment_id = ? AND opens_at <= ? AND closes_at > ?"
            " ORDER BY opens_at DESC LIMIT 1",
            (enrolment_id, _ts(now), _ts(now)),
        )
        return None if row is None else _window(row)

    async def windows(self, enrolment_id: str, limit: int = 1000) -> list[CheckinWindow]:
        rows = await self.db.fetchall(
            "SELECT * FROM (SELECT * FROM probation_windows WHERE enrolment_id = ? ORDER BY opens_at DESC LIMIT ?)"
            " ORDER BY opens_at",
            (enrolment_id, limit),
        )
        return [_window(r) for r in rows]

    async def record_answer(self, enrolment_id: str, occ_key: str, field: str, value: str, now: datetime) -> bool:
        column = ANSWER_FIELDS.get(field, field)
        if column not in ANSWER_FIELDS.values():
            raise ValueError(f"unknown check-in answer {field!r}")
        return await self.db.run(lambda c: c.execute(
            f"UPDATE probation_windows SET {column} = ?, checked_in_at = COALESCE(checked_in_at, ?),"
            " status = CASE WHEN status = 'open' THEN 'checked_in' ELSE status END"
            " WHERE enrolment_id = ? AND occ_key = ?",
            (value, _ts(now), enrolment_id, occ_key),
        ).rowcount == 1)

    async def mark_missed(self, enrolment_id: str, occ_key: str) -> bool:
        return await self.db.run(lambda c: c.execute(
            "UPDATE probation_windows SET status = 'missed' WHERE enrolment_id = ? AND occ_key = ? AND status = 'open'",
            (enrolment_id, occ_key),
        ).rowcount == 1)

    async def mark_alerted(self, enrolment_id: str, occ_key: str) -> bool:
        return await self.db.run(lambda c: c.execute(
            "UPDATE probation_windows SET alerted = 1 WHERE enrolment_id = ? AND occ_key = ? AND alerted = 0",
            (enrolment_id, occ_key),
        ).rowcount == 1)

    async def add_message(self, message: OfficerMessage) -> bool:
        m = message
        return await self.db.run(lambda c: c.execute(
            "INSERT INTO probation_messages (id, enrolment_id, kind, text, at, occ_key) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT (id) DO NOTHING",
            (m.id, m.enrolment_id, m.kind, m.text, _ts(m.at), m.occ_key),
        ).rowcount == 1)

    async def messages(self, enrolment_id: str, limit: int = 200) -> list[OfficerMessage]:
        rows = await self.db.fetchall(
            "SELECT * FROM probation_messages WHERE enrolment_id = ? ORDER BY at DESC, id LIMIT ?",
            (enrolment_id, limit),
        )
        return [OfficerMessage(r["id"], r["enrolment_id"], r["kind"], r["text"], _req(r["at"]), r["occ_key"])
                for r in rows]
