"""SQLite adapter of the casework store port, on the process's shared :class:`SqliteDb`.

Claims and escalations run inside ``SqliteDb.tx()`` (``BEGIN IMMEDIATE``), so two
workers can never both win a case; a partial unique index allows one open case per
contact and serves ``handling_case`` as a single index lookup. The audit table
refuses UPDATE and DELETE through triggers, whatever code runs against the file.

With a :class:`~caseline.crypto.FieldCipher`, what people write about a case (each note's
and referral's text, the outcome) is sealed under the *contact's* data key, the one the
conversation store uses: erasing the contact then shreds the case's free text too, in
backups as well, while the open case keeps it readable as long as it keeps the key. Only
the text is sealed; a note's author and time, and the case's routing and triage fields
(team, severity, categories, the screen's ``reason`` label), stay clear because the queue
sorts and filters on them and they hold nothing the contact wrote. Values written before
encryption was on read as they are; ``seal_plain`` (run by ``caseline keys rotate``)
seals them in batches.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from caseline.crypto import CASE_NOTE, CASE_OUTCOME, CASE_REFERRAL, DataKey, FieldCipher, is_sealed
from caseline.store.sqlite import Keys, SqliteDb, attach_keys, default_keys_path, in_tx, key_reader, key_writer
from casework.model import (
    HANDLED,
    SEVERITIES,
    AuditEntry,
    AuditQuery,
    Case,
    NewCase,
    Note,
    Session,
    Status,
    Trigger,
    User,
    severity_rank,
)
from casework.ports import CaseStore, TotpRecord, UserExists

SCHEMA = """
CREATE TABLE IF NOT EXISTS cases (
    id TEXT PRIMARY KEY,
    contact_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    team TEXT NOT NULL,
    sev INTEGER NOT NULL,
    categories TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    open INTEGER,
    reason TEXT NOT NULL DEFAULT '',
    lang TEXT NOT NULL DEFAULT 'en',
    country TEXT,
    assignee TEXT,
    opened_at TEXT NOT NULL,
    claimed_at TEXT,
    first_response_at TEXT,
    resolved_at TEXT,
    sla_due TEXT,
    lease_until TEXT,
    outcome TEXT,
    triggers TEXT NOT NULL DEFAULT '[]',
    notes TEXT NOT NULL DEFAULT '[]',
    referrals TEXT NOT NULL DEFAULT '[]'
);
CREATE UNIQUE INDEX IF NOT EXISTS cases_open_contact ON cases (contact_id) WHERE open = 1;
CREATE INDEX IF NOT EXISTS cases_queue ON cases (team, status, sev DESC, opened_at);
CREATE INDEX IF NOT EXISTS cases_lease ON cases (status, lease_until);
CREATE TABLE IF NOT EXISTS case_alerts (
    case_id TEXT NOT NULL, kind TEXT NOT NULL, notifier TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (case_id, kind, notifier)
);
CREATE TABLE IF NOT EXISTS case_users (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    teams TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    last_seen_at TEXT,
    created_at TEXT
);
CREATE TABLE IF NOT EXISTS case_sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    csrf TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS case_sessions_user ON case_sessions (username);
CREATE TABLE IF NOT EXISTS case_totp (
    username TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    confirmed INTEGER NOT NULL DEFAULT 0,
    last_step INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_actor ON audit (actor, id);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

_USER_FIELDS = {"disabled", "password_hash", "failed_logins", "locked_until", "last_seen_at", "role", "teams"}


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _open_notes(raw: str, key: DataKey | None, cid: str, field: str) -> tuple[Note, ...]:
    notes = (Note.from_json(n) for n in json.loads(raw))
    return tuple(replace(n, text=FieldCipher.open(key, cid, field, n.text)) for n in notes)


def _sealed_note(note: Note, key: DataKey | None, field: str) -> dict[str, Any]:
    return {**note.to_json(), "text": FieldCipher.seal(key, field, note.text)}


def _has_text(row: sqlite3.Row) -> bool:
    """Whether opening the row needs the contact's key (most queue rows have no notes yet)."""
    return row["outcome"] is not None or row["notes"] != "[]" or row["referrals"] != "[]"


def _case(row: sqlite3.Row, key: DataKey | None = None) -> Case:
    opened = _dt(row["opened_at"])
    assert opened is not None
    cid = row["contact_id"]
    outcome = row["outcome"]
    return Case(
        id=row["id"],
        contact_id=cid,
        channel=row["channel"],
        team=row["team"],
        severity=SEVERITIES[row["sev"]],
        categories=tuple(json.loads(row["categories"])),
        status=row["status"],
        reason=row["reason"],
        lang=row["lang"],
        country=row["country"],
        opened_at=opened,
        sla_due=_dt(row["sla_due"]),
        assignee=row["assignee"],
        claimed_at=_dt(row["claimed_at"]),
        first_response_at=_dt(row["first_response_at"]),
        resolved_at=_dt(row["resolved_at"]),
        lease_until=_dt(row["lease_until"]),
        outcome=None if outcome is None else FieldCipher.open(key, cid, CASE_OUTCOME, outcome),
        triggers=tuple(Trigger.from_json(t) for t in json.loads(row["triggers"])),
        notes=_open_notes(row["notes"], key, cid, CASE_NOTE),
        referrals=_open_notes(row["referrals"], key, cid, CASE_REFERRAL),
    )


def _opened(rows: Sequence[sqlite3.Row], keys: Keys) -> list[Case]:
    return [_case(r, keys(r["contact_id"]) if _has_text(r) else None) for r in rows]


def _seal_row(conn: sqlite3.Connection, case_id: str, keys: Keys) -> bool:
    """Seal whatever is still plain in one case; re-read inside the write transaction so a
    note added since the batch was chosen is sealed too, never lost."""
    row = conn.execute("SELECT contact_id, outcome, notes, referrals FROM cases WHERE id = ?", (case_id,)).fetchone()
    if row is None:
        return False
    key = keys(row["contact_id"])
    outcome = row["outcome"]
    if outcome is not None and not is_sealed(outcome):
        outcome = FieldCipher.seal(key, CASE_OUTCOME, outcome)
    lists = []
    for column, field in (("notes", CASE_NOTE), ("referrals", CASE_REFERRAL)):
        items = json.loads(row[column])
        for item in items:
            if not is_sealed(item.get("text")):
                item["text"] = FieldCipher.seal(key, field, str(item.get("text", "")))
        lists.append(json.dumps(items))
    conn.execute("UPDATE cases SET outcome = ?, notes = ?, referrals = ? WHERE id = ?", (outcome, *lists, case_id))
    return True


# Cases holding a value not sealed yet: a sealed value always starts with the prefix.
_PLAIN = (
    "(outcome IS NOT NULL AND outcome NOT LIKE 'e1.%')"
    " OR EXISTS (SELECT 1 FROM json_each(cases.notes) WHERE json_extract(value, '$.text') NOT LIKE 'e1.%')"
    " OR EXISTS (SELECT 1 FROM json_each(cases.referrals) WHERE json_extract(value, '$.text') NOT LIKE 'e1.%')"
)


def _user(row: sqlite3.Row) -> User:
    return User(
        username=row["username"],
        role=row["role"],
        teams=tuple(json.loads(row["teams"])),
        password_hash=row["password_hash"],
        disabled=bool(row["disabled"]),
        failed_logins=row["failed_logins"],
        locked_until=_dt(row["locked_until"]),
        last_seen_at=_dt(row["last_seen_at"]),
        created_at=_dt(row["created_at"]),
    )


async def _one(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> sqlite3.Row | None:
    cur = await conn.execute(sql, params)
    row = await cur.fetchone()
    await cur.close()
    return row


async def _changed(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> int:
    cur = await conn.execute(sql, params)
    count = cur.rowcount
    await cur.close()
    return count


class SqliteCaseStore(CaseStore):
    """``cipher`` seals the free text (None: plain); ``keys_path`` is the conversation store's key file."""

    def __init__(self, db: SqliteDb, cipher: FieldCipher | None = None, keys_path: Path | None = None) -> None:
        self.db = db
        self.cipher = cipher
        self.keys_path = keys_path or default_keys_path(db)

    async def _cases(self, rows: Sequence[sqlite3.Row]) -> list[Case]:
        """Open rows read by a transaction: the key lookups need the raw connection."""
        if self.cipher is None or not any(_has_text(r) for r in rows):
            return [_case(r) for r in rows]
        return await self.db.run(lambda c: _opened(rows, key_reader(self.cipher, c)), write=False)

    async def _case(self, row: sqlite3.Row | None) -> Case | None:
        return None if row is None else (await self._cases([row]))[0]

    async def _select(self, sql: str, params: Sequence[Any]) -> list[Case]:
        """Read and open in one store call."""
        return await self.db.run(
            lambda c: _opened(c.execute(sql, params).fetchall(), key_reader(self.cipher, c)), write=False
        )

    async def open(self) -> None:
        await self.db.open()
        await self.db.executescript(SCHEMA)
        if self.cipher is not None:
            await self.db.run(lambda c: attach_keys(c, self.keys_path), write=False)
        columns = {r["name"] for r in await self.db.fetchall("PRAGMA table_info(case_sessions)")}
        if "last_used_at" not in columns:  # added with idle expiry; older files upgrade in place
            await self.db.executescript("ALTER TABLE case_sessions ADD COLUMN last_used_at TEXT;")

    async def escalate(self, new: NewCase, trigger: Trigger) -> tuple[Case, bool]:
        async with self.db.tx() as conn:
            row = await _one(conn, "SELECT * FROM cases WHERE contact_id = ? AND open = 1", (new.contact_id,))
            if row is None:
                await conn.execute(
                    "INSERT INTO cases (id, contact_id, channel, team, sev, categories, status, open, reason,"
                    " lang, country, opened_at, sla_due, triggers)"
                    " VALUES (?,?,?,?,?,?,'waiting',1,?,?,?,?,?,?)",
                    (
                        new.id,
                        new.contact_id,
                        new.channel,
                        new.team,
                        severity_rank(new.severity),
                        json.dumps(list(new.categories)),
                        new.reason,
                        new.lang,
                        new.country,
                        _ts(new.opened_at),
                        _ts(new.sla_due),
                        json.dumps([trigger.to_json()]),
                    ),
                )
                row = await _one(conn, "SELECT * FROM cases WHERE id = ?", (new.id,))
                created = True
            else:
                created = False
                triggers = [Trigger.from_json(t) for t in json.loads(row["triggers"])]
                seqs = {t.inbound_seq for t in triggers}
                if trigger.inbound_seq is None or trigger.inbound_seq not in seqs:
                    categories = list(dict.fromkeys(tuple(json.loads(row["categories"])) + new.categories))
                    await conn.execute(
                        "UPDATE cases SET sev = MAX(sev, ?), categories = ?, triggers = ? WHERE id = ?",
                        (
                            severity_rank(new.severity),
                            json.dumps(categories),
                            json.dumps([t.to_json() for t in triggers] + [trigger.to_json()]),
                            row["id"],
                        ),
                    )
                    row = await _one(conn, "SELECT * FROM cases WHERE id = ?", (row["id"],))
        case = await self._case(row)
        assert case is not None
        return case, created

    async def set_sla_due(self, case_id: str, due: datetime | None) -> None:
        async with self.db.tx() as conn:
            await conn.execute("UPDATE cases SET sla_due = ? WHERE id = ?", (_ts(due), case_id))

    async def get(self, case_id: str) -> Case | None:
        found = await self._select("SELECT * FROM cases WHERE id = ?", (case_id,))
        return found[0] if found else None

    async def handling_case(self, contact_id: str) -> str | None:
        row = await self.db.fetchone(
            "SELECT id, status FROM cases WHERE contact_id = ? AND open = 1", (contact_id,)
        )
        return str(row["id"]) if row is not None and row["status"] in HANDLED else None

    async def open_case(self, contact_id: str) -> str | None:
        row = await self.db.fetchone("SELECT id FROM cases WHERE contact_id = ? AND open = 1", (contact_id,))
        return None if row is None else str(row["id"])

    async def list_cases(
        self,
        teams: Sequence[str] | None,
        statuses: Sequence[str] | None = None,
        since: datetime | None = None,
        limit: int = 500,
    ) -> list[Case]:
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if teams is not None:
            where.append(f"team IN ({','.join('?' * len(teams))})")
            params += list(teams)
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params += list(statuses)
        if since is not None:
            where.append("opened_at >= ?")
            params.append(_ts(since))
        return await self._select(
            f"SELECT * FROM cases WHERE {' AND '.join(where)} ORDER BY sev DESC, opened_at LIMIT ?",
            (*params, limit),
        )

    async def claim(self, case_id: str, worker: str, now: datetime, lease_until: datetime) -> Case | None:
        async with self.db.tx() as conn:
            taken = await _changed(
                conn,
                "UPDATE cases SET status = 'claimed', assignee = ?, claimed_at = COALESCE(claimed_at, ?),"
                " lease_until = ? WHERE id = ? AND (status = 'waiting' OR (open = 1 AND lease_until < ?))",
                (worker, _ts(now), _ts(lease_until), case_id, _ts(now)),
            )
            row = await _one(conn, "SELECT * FROM cases WHERE id = ?", (case_id,)) if taken else None
        return await self._case(row)

    async def claim_next(
        self, teams: Sequence[str], worker: str, now: datetime, lease_until: datetime
    ) -> Case | None:
        if not teams:
            return None
        async with self.db.tx() as conn:
            head = await _one(
                conn,
                f"SELECT id FROM cases WHERE team IN ({','.join('?' * len(teams))}) AND status = 'waiting'"
                " ORDER BY sev DESC, opened_at LIMIT 1",
                list(teams),
            )
            if head is None:
                return None
            await conn.execute(
                "UPDATE cases SET status = 'claimed', assignee = ?, claimed_at = COALESCE(claimed_at, ?),"
                " lease_until = ? WHERE id = ?",
                (worker, _ts(now), _ts(lease_until), head["id"]),
            )
            row = await _one(conn, "SELECT * FROM cases WHERE id = ?", (head["id"],))
        return await self._case(row)

    async def renew_leases(self, worker: str, lease_until: datetime) -> int:
        async with self.db.tx() as conn:
            return await _changed(
                conn,
                "UPDATE cases SET lease_until = ? WHERE assignee = ? AND status IN ('claimed',"
                " 'awaiting_user')",
                (_ts(lease_until), worker),
            )

    async def release_lapsed(self, now: datetime) -> list[str]:
        async with self.db.tx() as conn:
            cur = await conn.execute(
                "SELECT id FROM cases WHERE status IN ('claimed', 'awaiting_user') AND lease_until < ?",
                (_ts(now),),
            )
            ids = [str(r["id"]) for r in await cur.fetchall()]
            await cur.close()
            await conn.executemany(
                "UPDATE cases SET status = 'waiting', assignee = NULL, lease_until = NULL WHERE id = ?",
                [(i,) for i in ids],
            )
        return ids

    async def set_status(self, case_id: str, status: Status, *, only_from: Sequence[str] = ()) -> bool:
        allowed = list(only_from) or ["waiting", "claimed", "awaiting_user"]
        async with self.db.tx() as conn:
            return (
                await _changed(
                    conn,
                    "UPDATE cases SET status = ? WHERE id = ?"
                    f" AND status IN ({','.join('?' * len(allowed))})",
                    (status, case_id, *allowed),
                )
                == 1
            )

    async def record_reply(self, case_id: str, worker: str, now: datetime) -> bool:
        async with self.db.tx() as conn:
            return (
                await _changed(
                    conn,
                    "UPDATE cases SET status = 'awaiting_user',"
                    " first_response_at = COALESCE(first_response_at, ?)"
                    " WHERE id = ? AND assignee = ? AND status IN ('claimed', 'awaiting_user')",
                    (_ts(now), case_id, worker),
                )
                == 1
            )

    async def add_note(self, case_id: str, note: Note) -> bool:
        column, field = ("referrals", CASE_REFERRAL) if note.kind == "referral" else ("notes", CASE_NOTE)

        def op(c: sqlite3.Connection) -> bool:
            found = c.execute("SELECT contact_id FROM cases WHERE id = ?", (case_id,)).fetchone()
            if found is None:
                return False
            key = key_writer(self.cipher, c, [found[0]])(found[0])

            def append(conn: sqlite3.Connection) -> bool:
                row = conn.execute(f"SELECT {column} FROM cases WHERE id = ?", (case_id,)).fetchone()
                if row is None:
                    return False
                items = json.loads(row[0]) + [_sealed_note(note, key, field)]
                conn.execute(f"UPDATE cases SET {column} = ? WHERE id = ?", (json.dumps(items), case_id))
                return True

            return in_tx(c, append)

        return await self.db.run(op, write=False)

    async def transfer(
        self,
        case_id: str,
        *,
        to_user: str | None,
        to_team: str | None,
        now: datetime,
        lease_until: datetime,
    ) -> Case | None:
        async with self.db.tx() as conn:
            params: tuple[Any, ...]
            if to_team is not None:
                sql = (
                    "UPDATE cases SET team = ?, status = 'waiting', assignee = NULL, lease_until = NULL"
                    " WHERE id = ? AND open = 1"
                )
                params = (to_team, case_id)
            else:
                sql = (
                    "UPDATE cases SET assignee = ?, status = 'claimed', lease_until = ?,"
                    " claimed_at = COALESCE(claimed_at, ?) WHERE id = ? AND open = 1"
                )
                params = (to_user, _ts(lease_until), _ts(now), case_id)
            if not await _changed(conn, sql, params):
                return None
            row = await _one(conn, "SELECT * FROM cases WHERE id = ?", (case_id,))
        return await self._case(row)

    async def resolve(self, case_id: str, outcome: str, now: datetime) -> Case | None:
        def op(c: sqlite3.Connection) -> Case | None:
            found = c.execute("SELECT contact_id FROM cases WHERE id = ? AND open = 1", (case_id,)).fetchone()
            if found is None:
                return None
            keys = key_writer(self.cipher, c, [found[0]])

            def close(conn: sqlite3.Connection) -> sqlite3.Row | None:
                done = conn.execute(
                    "UPDATE cases SET status = 'resolved', open = NULL, outcome = ?, resolved_at = ?,"
                    " lease_until = NULL WHERE id = ? AND open = 1",
                    (FieldCipher.seal(keys(found[0]), CASE_OUTCOME, outcome), _ts(now), case_id),
                ).rowcount
                return conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone() if done else None

            row = in_tx(c, close)
            return None if row is None else _opened([row], keys)[0]

        return await self.db.run(op, write=False)

    async def seal_plain(self, limit: int = 500) -> int:
        """Seal up to ``limit`` cases' free text written before encryption was on; how many.

        Resumable: each batch commits on its own and the next one looks for what is still
        plain, so an interrupted run just carries on. Contacts without a data key get one.
        """
        cipher = self.cipher
        if cipher is None:
            return 0

        def op(c: sqlite3.Connection) -> int:
            rows = c.execute(f"SELECT id, contact_id FROM cases WHERE {_PLAIN} ORDER BY id LIMIT ?",
                             (limit,)).fetchall()
            keys = key_writer(cipher, c, [r["contact_id"] for r in rows])
            return sum(in_tx(c, lambda conn: [_seal_row(conn, r["id"], keys) for r in rows]))

        return await self.db.run(op, write=False, offload=True)

    async def claim_alert(self, case_id: str, kind: str, notifier: str, now: datetime) -> bool:
        async with self.db.tx() as conn:
            return (
                await _changed(
                    conn,
                    "INSERT OR IGNORE INTO case_alerts (case_id, kind, notifier, at) VALUES (?,?,?,?)",
                    (case_id, kind, notifier, _ts(now)),
                )
                == 1
            )

    async def release_alert(self, case_id: str, kind: str, notifier: str) -> None:
        async with self.db.tx() as conn:
            await conn.execute(
                "DELETE FROM case_alerts WHERE case_id = ? AND kind = ? AND notifier = ?",
                (case_id, kind, notifier),
            )

    async def alerts(self, case_id: str) -> list[tuple[str, str]]:
        rows = await self.db.fetchall(
            "SELECT kind, notifier FROM case_alerts WHERE case_id = ? ORDER BY kind, notifier", (case_id,)
        )
        return [(str(r["kind"]), str(r["notifier"])) for r in rows]

    async def add_user(self, user: User) -> None:
        try:
            async with self.db.tx() as conn:
                await conn.execute(
                    "INSERT INTO case_users (username, role, teams, password_hash, disabled, created_at)"
                    " VALUES (?,?,?,?,?,?)",
                    (
                        user.username,
                        user.role,
                        json.dumps(list(user.teams)),
                        user.password_hash,
                        int(user.disabled),
                        _ts(user.created_at),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise UserExists(user.username) from exc

    async def get_user(self, username: str) -> User | None:
        row = await self.db.fetchone("SELECT * FROM case_users WHERE username = ?", (username,))
        return None if row is None else _user(row)

    async def list_users(self) -> list[User]:
        return [_user(r) for r in await self.db.fetchall("SELECT * FROM case_users ORDER BY username")]

    async def update_user(self, username: str, **fields: object) -> bool:
        unknown = set(fields) - _USER_FIELDS
        if unknown:
            raise ValueError(f"unknown user fields: {sorted(unknown)}")
        values = [_sql_value(v) for v in fields.values()]
        assignments = ", ".join(f"{name} = ?" for name in fields)
        async with self.db.tx() as conn:
            return (
                await _changed(
                    conn, f"UPDATE case_users SET {assignments} WHERE username = ?", (*values, username)
                )
                == 1
            )

    async def failed_login(
        self, username: str, now: datetime, max_failures: int, lock_until: datetime
    ) -> None:
        async with self.db.tx() as conn:
            await conn.execute(
                "UPDATE case_users SET failed_logins = failed_logins + 1 WHERE username = ?", (username,)
            )
            await conn.execute(
                "UPDATE case_users SET locked_until = ?, failed_logins = 0 WHERE username = ?"
                " AND failed_logins >= ?",
                (_ts(lock_until), username, max_failures),
            )

    async def active_workers(self, team: str, since: datetime) -> int:
        rows = await self.db.fetchall(
            "SELECT teams FROM case_users WHERE disabled = 0 AND role IN ('case_worker', 'supervisor')"
            " AND last_seen_at >= ?",
            (_ts(since),),
        )
        return sum(1 for r in rows if team in json.loads(r["teams"]))

    async def add_session(self, session: Session) -> None:
        async with self.db.tx() as conn:
            await conn.execute(
                "INSERT INTO case_sessions (token_hash, username, csrf, kind, created_at, expires_at)"
                " VALUES (?,?,?,?,?,?)",
                (
                    session.token_hash,
                    session.username,
                    session.csrf,
                    session.kind,
                    _ts(session.created_at),
                    _ts(session.expires_at),
                ),
            )

    async def get_session(self, token_hash: str) -> Session | None:
        row = await self.db.fetchone("SELECT * FROM case_sessions WHERE token_hash = ?", (token_hash,))
        if row is None:
            return None
        created, expires = _dt(row["created_at"]), _dt(row["expires_at"])
        assert created is not None and expires is not None
        return Session(row["token_hash"], row["username"], row["csrf"], row["kind"], created, expires)

    async def delete_sessions(self, *, token_hash: str | None = None, username: str | None = None) -> None:
        async with self.db.tx() as conn:
            if token_hash is not None:
                await conn.execute("DELETE FROM case_sessions WHERE token_hash = ?", (token_hash,))
            if username is not None:
                await conn.execute("DELETE FROM case_sessions WHERE username = ?", (username,))

    async def touch_session(self, token_hash: str, now: datetime, idle_since: datetime) -> bool:
        async with self.db.tx() as conn:
            return (
                await _changed(
                    conn,
                    "UPDATE case_sessions SET last_used_at = ? WHERE token_hash = ?"
                    " AND COALESCE(last_used_at, created_at) >= ?",
                    (_ts(now), token_hash, _ts(idle_since)),
                )
                == 1
            )

    async def get_totp(self, username: str) -> TotpRecord | None:
        row = await self.db.fetchone("SELECT * FROM case_totp WHERE username = ?", (username,))
        return None if row is None else TotpRecord(row["sealed"], bool(row["confirmed"]), row["last_step"])

    async def set_totp(self, username: str, sealed: str | None, confirmed: bool = False) -> None:
        async with self.db.tx() as conn:
            await conn.execute("DELETE FROM case_totp WHERE username = ?", (username,))
            if sealed is not None:
                await conn.execute(
                    "INSERT INTO case_totp (username, sealed, confirmed, last_step) VALUES (?,?,?,0)",
                    (username, sealed, int(confirmed)),
                )

    async def use_totp_step(self, username: str, step: int, confirm: bool = False) -> bool:
        confirmed = "confirmed = 1, " if confirm else ""
        async with self.db.tx() as conn:
            return (
                await _changed(
                    conn,
                    f"UPDATE case_totp SET {confirmed}last_step = ? WHERE username = ? AND last_step < ?",
                    (step, username, step),
                )
                == 1
            )

    async def append_audit(self, entry: AuditEntry) -> None:
        async with self.db.tx() as conn:
            await conn.execute(
                "INSERT INTO audit (at, actor, action, target, outcome, detail) VALUES (?,?,?,?,?,?)",
                (
                    _ts(entry.at),
                    entry.actor,
                    entry.action,
                    entry.target,
                    entry.outcome,
                    json.dumps(entry.detail, default=str),
                ),
            )

    async def query_audit(self, query: AuditQuery) -> list[AuditEntry]:
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        for name in ("actor", "action", "target", "outcome"):
            value = getattr(query, name)
            if value is not None:
                where.append(f"{name} = ?")
                params.append(value)
        if query.since is not None:
            where.append("at >= ?")
            params.append(_ts(query.since))
        rows = await self.db.fetchall(
            f"SELECT * FROM audit WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
            (*params, query.limit),
        )
        return [
            AuditEntry(
                _dt(r["at"]) or datetime.now(UTC),
                r["actor"],
                r["action"],
                r["target"],
                r["outcome"],
                json.loads(r["detail"]),
                r["id"],
            )
            for r in rows
        ]


def _sql_value(value: object) -> object:
    if isinstance(value, datetime):
        return _ts(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (tuple, list)):
        return json.dumps(list(value))
    return value
