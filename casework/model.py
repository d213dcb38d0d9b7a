"""The case-worker domain's values: cases, users, sessions and audit entries.

Frozen dataclasses so a view or an adapter can never change what the queue decided;
severity is ordered (``none < low < ... < critical``) and stored as its rank so the
queue can sort on it in both stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

SEVERITIES = ("none", "low", "medium", "high", "critical")
STATUSES = ("waiting", "claimed", "awaiting_user", "resolved")
HANDLED = ("claimed", "awaiting_user")
ROLES = ("case_worker", "probation_officer", "supervisor", "admin")

Status = Literal["waiting", "claimed", "awaiting_user", "resolved"]


def severity_rank(label: str) -> int:
    """Rank of a severity label; unknown labels count as ``low`` so nothing is lost."""
    try:
        return SEVERITIES.index(label)
    except ValueError:
        return 1


@dataclass(frozen=True, slots=True)
class Trigger:
    """Why the case was opened or raised: the inbound message and the rules that fired."""

    inbound_seq: int | None
    rules: tuple[str, ...]
    reason: str
    severity: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "inbound_seq": self.inbound_seq,
            "rules": list(self.rules),
            "reason": self.reason,
            "severity": self.severity,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Trigger:
        return cls(
            d.get("inbound_seq"),
            tuple(d.get("rules", ())),
            str(d.get("reason", "")),
            str(d.get("severity", "low")),
            datetime.fromisoformat(str(d["at"])),
        )


@dataclass(frozen=True, slots=True)
class Note:
    author: str
    text: str
    at: datetime
    kind: str = "note"

    def to_json(self) -> dict[str, Any]:
        return {"author": self.author, "text": self.text, "at": self.at.isoformat(), "kind": self.kind}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Note:
        return cls(
            str(d["author"]), str(d["text"]), datetime.fromisoformat(str(d["at"])), str(d.get("kind", "note"))
        )


@dataclass(frozen=True, slots=True)
class NewCase:
    """What ``escalate`` knows when it opens a case."""

    id: str
    contact_id: str
    channel: str
    team: str
    severity: str
    categories: tuple[str, ...]
    reason: str
    lang: str
    country: str | None
    opened_at: datetime
    sla_due: datetime | None


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    contact_id: str
    channel: str
    team: str
    severity: str
    categories: tuple[str, ...]
    status: Status
    reason: str
    lang: str
    country: str | None
    opened_at: datetime
    sla_due: datetime | None
    assignee: str | None = None
    claimed_at: datetime | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    lease_until: datetime | None = None
    outcome: str | None = None
    triggers: tuple[Trigger, ...] = ()
    notes: tuple[Note, ...] = ()
    referrals: tuple[Note, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"

    def summary(self) -> dict[str, Any]:
        """The case as the queue shows it: no transcript, no notes."""
        return {
            "id": self.id,
            "channel": self.channel,
            "team": self.team,
            "severity": self.severity,
            "categories": list(self.categories),
            "status": self.status,
            "reason": self.reason,
            "lang": self.lang,
            "assignee": self.assignee,
            "opened_at": _iso(self.opened_at),
            "claimed_at": _iso(self.claimed_at),
            "first_response_at": _iso(self.first_response_at),
            "resolved_at": _iso(self.resolved_at),
            "sla_due": _iso(self.sla_due),
            "lease_until": _iso(self.lease_until),
            "outcome": self.outcome,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "contact_id": self.contact_id,
            "country": self.country,
            "triggers": [t.to_json() for t in self.triggers],
            "notes": [n.to_json() for n in self.notes],
            "referrals": [r.to_json() for r in self.referrals],
        }


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: str
    teams: tuple[str, ...]
    password_hash: str
    disabled: bool = False
    failed_logins: int = 0
    locked_until: datetime | None = None
    last_seen_at: datetime | None = None
    created_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "role": self.role,
            "teams": list(self.teams),
            "disabled": self.disabled,
            "locked_until": _iso(self.locked_until),
            "last_seen_at": _iso(self.last_seen_at),
        }


@dataclass(frozen=True, slots=True)
class Session:
    """A login; only the SHA-256 of its token is stored, so a store dump can't be replayed."""

    token_hash: str
    username: str
    csrf: str
    kind: Literal["cookie", "bearer"]
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    target: str = ""
    outcome: Literal["ok", "denied", "failed"] = "ok"
    detail: dict[str, Any] = field(default_factory=dict)
    id: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True, slots=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    limit: int = 200


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
