"""The casework store port: cases, the claim lease, users, sessions, audit and alerts.

Two adapters implement it on the shared backend (``caseline/store/cases_sqlite.py`` and
``caseline/store/cases_mongo.py``) and one contract suite (``tests/casework``) holds
them to the same behaviour. Every method is atomic on its own; the ones that decide
who owns something (``escalate``, ``claim``, ``claim_next``, ``claim_alert``) are
single conditional writes, so any number of processes can share a queue.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from casework.model import AuditEntry, AuditQuery, Case, NewCase, Note, Session, Status, Trigger, User


class UserExists(Exception):
    """``add_user`` for a username that is taken."""


@dataclass(frozen=True, slots=True)
class TotpRecord:
    """A user's second factor: the sealed secret, whether enrolment was confirmed, the last step used."""

    sealed: str
    confirmed: bool
    last_step: int


class CaseStore(ABC):
    @abstractmethod
    async def open(self) -> None:
        """Create tables or indexes; idempotent."""

    # -- cases -----------------------------------------------------------------------
    @abstractmethod
    async def escalate(self, new: NewCase, trigger: Trigger) -> tuple[Case, bool]:
        """Open a case for the contact, or add ``trigger`` to its open one.

        The open case's severity only ever rises. A trigger whose ``inbound_seq`` the
        case already has is ignored. Returns the case and whether it was created.
        """

    @abstractmethod
    async def set_sla_due(self, case_id: str, due: datetime | None) -> None: ...

    @abstractmethod
    async def get(self, case_id: str) -> Case | None: ...

    @abstractmethod
    async def handling_case(self, contact_id: str) -> str | None:
        """The contact's open case that a person holds (claimed or awaiting the user); one lookup."""

    @abstractmethod
    async def open_case(self, contact_id: str) -> str | None:
        """The contact's open case, whatever its status (erasure and retention keep its data)."""

    @abstractmethod
    async def list_cases(
        self,
        teams: Sequence[str] | None,
        statuses: Sequence[str] | None = None,
        since: datetime | None = None,
        limit: int = 500,
    ) -> list[Case]:
        """Cases of ``teams`` (all teams if None), queue order: severity desc, then oldest first."""

    @abstractmethod
    async def claim(self, case_id: str, worker: str, now: datetime, lease_until: datetime) -> Case | None:
        """Take a waiting case (or one whose lease lapsed); None if someone else has it."""

    @abstractmethod
    async def claim_next(
        self, teams: Sequence[str], worker: str, now: datetime, lease_until: datetime
    ) -> Case | None:
        """Take the head of the teams' queue."""

    @abstractmethod
    async def renew_leases(self, worker: str, lease_until: datetime) -> int:
        """Heartbeat: extend every lease the worker holds."""

    @abstractmethod
    async def release_lapsed(self, now: datetime) -> list[str]:
        """Return cases whose lease lapsed to the queue; their ids."""

    @abstractmethod
    async def set_status(
        self,
        case_id: str,
        status: Status,
        *,
        only_from: Sequence[str] = (),
    ) -> bool:
        """Move a case to ``status`` if it is in one of ``only_from`` (any open status if empty)."""

    @abstractmethod
    async def record_reply(self, case_id: str, worker: str, now: datetime) -> bool:
        """The assignee answered: first response time (once), status awaiting_user."""

    @abstractmethod
    async def add_note(self, case_id: str, note: Note) -> bool:
        """Append an internal note (``kind="note"``) or a referral (``kind="referral"``)."""

    @abstractmethod
    async def transfer(
        self,
        case_id: str,
        *,
        to_user: str | None,
        to_team: str | None,
        now: datetime,
        lease_until: datetime,
    ) -> Case | None:
        """Hand an open case to a colleague (stays claimed) or to a team (back to its queue)."""

    @abstractmethod
    async def resolve(self, case_id: str, outcome: str, now: datetime) -> Case | None:
        """Close an open case; None if it was already resolved."""

    # -- alerts --------------------------------------------------------------------
    @abstractmethod
    async def claim_alert(self, case_id: str, kind: str, notifier: str, now: datetime) -> bool:
        """Record that an alert is being sent; false if it was already (exactly once per key)."""

    @abstractmethod
    async def release_alert(self, case_id: str, kind: str, notifier: str) -> None:
        """Forget a claimed alert whose delivery failed, so the next sweep retries it."""

    @abstractmethod
    async def alerts(self, case_id: str) -> list[tuple[str, str]]:
        """(kind, notifier) pairs recorded for a case."""

    # -- users and sessions ----------------------------------------------------------
    @abstractmethod
    async def add_user(self, user: User) -> None:
        """Raises :class:`UserExists` if the username is taken."""

    @abstractmethod
    async def get_user(self, username: str) -> User | None: ...

    @abstractmethod
    async def list_users(self) -> list[User]: ...

    @abstractmethod
    async def update_user(self, username: str, **fields: object) -> bool:
        """Set fields of a user (disabled, password_hash, failed_logins, locked_until, last_seen_at)."""

    @abstractmethod
    async def failed_login(
        self, username: str, now: datetime, max_failures: int, lock_until: datetime
    ) -> None:
        """Count a failure atomically; lock the account when the count reaches ``max_failures``."""

    @abstractmethod
    async def active_workers(self, team: str, since: datetime) -> int:
        """Enabled case workers or supervisors of ``team`` seen at or after ``since``."""

    @abstractmethod
    async def add_session(self, session: Session) -> None: ...

    @abstractmethod
    async def get_session(self, token_hash: str) -> Session | None: ...

    @abstractmethod
    async def delete_sessions(
        self, *, token_hash: str | None = None, username: str | None = None
    ) -> None: ...

    @abstractmethod
    async def touch_session(self, token_hash: str, now: datetime, idle_since: datetime) -> bool:
        """Mark the session used at ``now`` unless it was last used before ``idle_since``; false if
        it is idle (or gone). Its last use starts as its creation time."""

    # -- second factor (TOTP) ------------------------------------------------------------
    @abstractmethod
    async def get_totp(self, username: str) -> TotpRecord | None: ...

    @abstractmethod
    async def set_totp(self, username: str, sealed: str | None, confirmed: bool = False) -> None:
        """Replace the user's second factor (last step back to 0); None removes it."""

    @abstractmethod
    async def use_totp_step(self, username: str, step: int, confirm: bool = False) -> bool:
        """Atomically accept a code's time step if it is later than every step used before
        (so a code can never be replayed); with ``confirm``, also mark the enrolment confirmed."""

    # -- encryption at rest ----------------------------------------------------------
    @abstractmethod
    async def seal_plain(self, limit: int = 500) -> int:
        """Seal up to ``limit`` rows of free text written before encryption was on; how many
        (0 when none is left, or without a cipher). Each batch commits alone: resumable."""

    # -- audit -----------------------------------------------------------------------
    @abstractmethod
    async def append_audit(self, entry: AuditEntry) -> None:
        """Append only: the port has no way to change or remove an entry."""

    @abstractmethod
    async def query_audit(self, query: AuditQuery) -> list[AuditEntry]:
        """Newest first."""
