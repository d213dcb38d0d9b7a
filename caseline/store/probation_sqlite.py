"""SQLite adapter of the probation store, on the process's shared :class:`SqliteDb`.

Every operation is one ``SqliteDb.run`` transaction, and the once-only transitions
(redeeming a code, open -> missed, alerting) are conditional updates whose row count says
whether this call made the change, which is what lets the scheduler's at-least-once
handlers act once.

With a :class:`~caseline.crypto.FieldCipher`, what the young person said (each check-in
answer, and the messages they leave for their officer) is sealed under their contact's
data key, found through the enrolment's ``contact_id``: it is the key the conversation
store holds for them, so erasing the contact shreds these copies too. The officer's plan
(alias, schedule) and the windows' times and statuses stay clear: they are the officer's
compliance record, and the scheduler queries them. An answer or a message for an
enrolment not linked to a contact is refused rather than stored in plain text; only a
linked contact can give one.

Erasure (``erase_contact_data``) keeps what a probation officer must still have, the fact
and time of each check-in, miss and alert, and removes everything that came from the young
person: answers and messages are deleted (not just left sealed: an open safeguarding case
keeps the data key alive), and the enrolment is unlinked and put back to ``pending`` so the
officer sees the link is gone and can issue a new code.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from caseline.crypto import PROBATION_MESSAGE, DataKey, FieldCipher, is_sealed, probation_answer
from caseline.store.base import StoreError
from caseline.store.sqlite import SqliteDb, attach_keys, default_keys_path, in_tx, key_reader, key_writer
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


ANSWER_COLUMNS = tuple(ANSWER_FIELDS.values())
ERASED = "erased"  # stands in for the contact in a code they used, so the code stays spent


def _answer(r: sqlite3.Row, column: str, key: DataKey | None, cid: str) -> str | None:
    value = r[column]
    return None if value is None else FieldCipher.open(key, cid, probation_answer(column), value)


def _window(r: sqlite3.Row, key: DataKey | None = None, cid: str = "") -> CheckinWindow:
    mood, attendance, note, needs_talk = (_answer(r, column, key, cid) for column in ANSWER_COLUMNS)
    return CheckinWindow(
        r["enrolment_id"], r["occ_key"], _req(r["opens_at"]), _req(r["closes_at"]), r["status"], mood,
        attendance, note, needs_talk, _dt(r["checked_in_at"]), bool(r["alerted"]),
    )


def _owner(c: sqlite3.Connection, enrolment_id: str) -> str | None:
    """The contact whose data key seals this enrolment's answers and messages."""
    row = c.execute("SELECT contact_id FROM probation_enrolments WHERE id = ?", (enrolment_id,)).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _windows(c: sqlite3.Connection, rows: Sequence[sqlite3.Row], cipher: FieldCipher | None) -> list[CheckinWindow]:
    owners: dict[str, str | None] = {}
    keys = key_reader(cipher, c)
    out = []
    for r in rows:
        eid = r["enrolment_id"]
        if cipher is None or all(r[column] is None for column in ANSWER_COLUMNS):
            out.append(_window(r))
            continue
        if eid not in owners:
            owners[eid] = _owner(c, eid)
        cid = owners[eid]
        out.append(_window(r, keys(cid) if cid else None, cid or eid))
    return out


# Rows of linked enrolments holding an answer or a text not sealed yet (a sealed value
# always starts with the prefix); an unlinked enrolment has no key to seal with.
_PLAIN_WINDOWS = (
    "SELECT w.enrolment_id, w.occ_key, e.contact_id FROM probation_windows w"
    " JOIN probation_enrolments e ON e.id = w.enrolment_id WHERE e.contact_id IS NOT NULL AND ("
    + " OR ".join(f"w.{column} NOT LIKE 'e1.%'" for column in ANSWER_COLUMNS)
    + ") ORDER BY w.enrolment_id, w.occ_key LIMIT ?"
)
_PLAIN_MESSAGES = (
    "SELECT m.id, e.contact_id FROM probation_messages m JOIN probation_enrolments e ON e.id = m.enrolment_id"
    " WHERE e.contact_id IS NOT NULL AND m.text NOT LIKE 'e1.%' ORDER BY m.id LIMIT ?"
)


def _code(r: sqlite3.Row) -> EnrolmentCode:
    return EnrolmentCode(r["code"], r["enrolment_id"], _req(r["expires_at"]), r["used_by"], _dt(r["used_at"]))


class SqliteProbationStore(ProbationStore):
    """``cipher`` seals what the young person said (None: plain); ``keys_path`` is the conversation store's."""

    def __init__(self, db: SqliteDb, cipher: FieldCipher | None = None, keys_path: Path | None = None) -> None:
        self.db = db
        self.cipher = cipher
        self.keys_path = keys_path or default_keys_path(db)

    async def open(self) -> None:
        await self.db.open()
        await self.db.executescript(SCHEMA)
        if self.cipher is not None:
            await self.db.run(lambda c: attach_keys(c, self.keys_path), write=False)

    def _sealing_key(self, c: sqlite3.Connection, enrolment_id: str) -> DataKey | None:
        """The key to seal the young person's words with; creates it if needed (own transaction)."""
        if self.cipher is None:
            return None
        owner = _owner(c, enrolment_id)
        if owner is None:
            raise StoreError(f"enrolment {enrolment_id} is not linked to a contact; refusing to store plain text")
        return key_writer(self.cipher, c, [owner])(owner)

    async def _read_windows(self, sql: str, params: Sequence[object]) -> list[CheckinWindow]:
        return await self.db.run(
            lambda c: _windows(c, c.execute(sql, params).fetchall(), self.cipher), write=False
        )

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
            row = c.execute(
                "SELECT * FROM probation_windows WHERE enrolment_id = ? AND occ_key = ?", (w.enrolment_id, w.occ_key)
            ).fetchone()
            return _windows(c, [row], self.cipher)[0]

        return await self.db.run(op)

    async def get_window(self, enrolment_id: str, occ_key: str) -> CheckinWindow | None:
        found = await self._read_windows(
            "SELECT * FROM probation_windows WHERE enrolment_id = ? AND occ_key = ?", (enrolment_id, occ_key)
        )
        return found[0] if found else None

    async def window_at(self, enrolment_id: str, now: datetime) -> CheckinWindow | None:
        found = await self._read_windows(
            "SELECT * FROM probation_windows WHERE enrolment_id = ? AND opens_at <= ? AND closes_at > ?"
            " ORDER BY opens_at DESC LIMIT 1",
            (enrolment_id, _ts(now), _ts(now)),
        )
        return found[0] if found else None

    async def windows(self, enrolment_id: str, limit: int = 1000) -> list[CheckinWindow]:
        return await self._read_windows(
            "SELECT * FROM (SELECT * FROM probation_windows WHERE enrolment_id = ? ORDER BY opens_at DESC LIMIT ?)"
            " ORDER BY opens_at",
            (enrolment_id, limit),
        )

    async def record_answer(self, enrolment_id: str, occ_key: str, field: str, value: str, now: datetime) -> bool:
        column = ANSWER_FIELDS.get(field, field)
        if column not in ANSWER_FIELDS.values():
            raise ValueError(f"unknown check-in answer {field!r}")

        def op(c: sqlite3.Connection) -> bool:
            if c.execute("SELECT 1 FROM probation_windows WHERE enrolment_id = ? AND occ_key = ?",
                         (enrolment_id, occ_key)).fetchone() is None:
                return False
            sealed = FieldCipher.seal(self._sealing_key(c, enrolment_id), probation_answer(column), value)
            return in_tx(c, lambda conn: conn.execute(
                f"UPDATE probation_windows SET {column} = ?, checked_in_at = COALESCE(checked_in_at, ?),"
                " status = CASE WHEN status = 'open' THEN 'checked_in' ELSE status END"
                " WHERE enrolment_id = ? AND occ_key = ?",
                (sealed, _ts(now), enrolment_id, occ_key),
            ).rowcount == 1)

        return await self.db.run(op, write=False)

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

        def op(c: sqlite3.Connection) -> bool:
            if c.execute("SELECT 1 FROM probation_messages WHERE id = ?", (m.id,)).fetchone() is not None:
                return False
            text = FieldCipher.seal(self._sealing_key(c, m.enrolment_id), PROBATION_MESSAGE, m.text)
            return in_tx(c, lambda conn: conn.execute(
                "INSERT INTO probation_messages (id, enrolment_id, kind, text, at, occ_key) VALUES (?,?,?,?,?,?)"
                " ON CONFLICT (id) DO NOTHING",
                (m.id, m.enrolment_id, m.kind, text, _ts(m.at), m.occ_key),
            ).rowcount == 1)

        return await self.db.run(op, write=False)

    async def messages(self, enrolment_id: str, limit: int = 200) -> list[OfficerMessage]:
        def op(c: sqlite3.Connection) -> list[OfficerMessage]:
            rows = c.execute(
                "SELECT * FROM probation_messages WHERE enrolment_id = ? ORDER BY at DESC, id LIMIT ?",
                (enrolment_id, limit),
            ).fetchall()
            owner = _owner(c, enrolment_id) if rows and self.cipher is not None else None
            key = key_reader(self.cipher, c)(owner) if owner else None
            return [OfficerMessage(r["id"], r["enrolment_id"], r["kind"],
                                   FieldCipher.open(key, owner or enrolment_id, PROBATION_MESSAGE, r["text"]),
                                   _req(r["at"]), r["occ_key"]) for r in rows]

        return await self.db.run(op, write=False)

    # -- privacy -----------------------------------------------------------------------------
    async def erase_contact_data(self, contact_id: str, *, dry_run: bool = False) -> dict[str, int]:
        def op(c: sqlite3.Connection) -> dict[str, int]:
            ids = [str(r[0]) for r in c.execute(
                "SELECT id FROM probation_enrolments WHERE contact_id = ?", (contact_id,)).fetchall()]
            marks = ",".join("?" * len(ids))
            answered = " OR ".join(f"{column} IS NOT NULL" for column in ANSWER_COLUMNS)
            counts = {"probation_enrolments": len(ids), "probation_answers": 0, "probation_messages": 0}
            if ids:
                counts["probation_answers"] = int(c.execute(
                    f"SELECT COUNT(*) FROM probation_windows WHERE enrolment_id IN ({marks}) AND ({answered})",
                    ids).fetchone()[0])
                counts["probation_messages"] = int(c.execute(
                    f"SELECT COUNT(*) FROM probation_messages WHERE enrolment_id IN ({marks})", ids).fetchone()[0])
            if dry_run:
                return counts
            cleared = ", ".join(f"{column} = NULL" for column in ANSWER_COLUMNS)
            c.execute(f"UPDATE probation_windows SET {cleared} WHERE enrolment_id IN ({marks})", ids)
            c.execute(f"DELETE FROM probation_messages WHERE enrolment_id IN ({marks})", ids)
            c.execute("UPDATE probation_codes SET used_by = ? WHERE used_by = ?", (ERASED, contact_id))
            c.execute(
                "UPDATE probation_enrolments SET contact_id = NULL, channel = NULL, lang = NULL, linked_at = NULL,"
                " status = CASE WHEN status IN ('active', 'paused') THEN 'pending' ELSE status END,"
                " revision = revision + 1 WHERE contact_id = ?",
                (contact_id,),
            )
            return counts

        return await self.db.run(op, write=not dry_run, offload=True)

    async def seal_plain(self, limit: int = 500) -> int:
        """Seal up to ``limit`` answers and messages written before encryption was on; how many rows.

        Resumable: each batch commits on its own and the next finds what is still plain.
        """
        cipher = self.cipher
        if cipher is None:
            return 0

        def op(c: sqlite3.Connection) -> int:
            windows = c.execute(_PLAIN_WINDOWS, (limit,)).fetchall()
            messages = c.execute(_PLAIN_MESSAGES, (limit,)).fetchall()
            keys = key_writer(cipher, c, [r["contact_id"] for r in [*windows, *messages]])

            def seal(conn: sqlite3.Connection) -> int:
                # Re-read inside the transaction: what was answered or erased since is respected.
                for w in windows:
                    row = conn.execute("SELECT * FROM probation_windows WHERE enrolment_id = ? AND occ_key = ?",
                                       (w["enrolment_id"], w["occ_key"])).fetchone()
                    if row is None:
                        continue
                    key = keys(w["contact_id"])
                    values = [row[col] if row[col] is None or is_sealed(row[col])
                              else FieldCipher.seal(key, probation_answer(col), row[col]) for col in ANSWER_COLUMNS]
                    conn.execute(f"UPDATE probation_windows SET {', '.join(f'{col} = ?' for col in ANSWER_COLUMNS)}"
                                 " WHERE enrolment_id = ? AND occ_key = ?", (*values, w["enrolment_id"], w["occ_key"]))
                for m in messages:
                    found = conn.execute("SELECT text FROM probation_messages WHERE id = ?", (m["id"],)).fetchone()
                    if found is not None and not is_sealed(found[0]):
                        conn.execute("UPDATE probation_messages SET text = ? WHERE id = ?",
                                     (FieldCipher.seal(keys(m["contact_id"]), PROBATION_MESSAGE, found[0]), m["id"]))
                return len(windows) + len(messages)

            return in_tx(c, seal)

        return await self.db.run(op, write=False, offload=True)
