"""The probation store port: enrolments, one-time codes, check-in windows, officer messages.

Every method is atomic on its own and the transitions a re-run job or a replayed turn can
repeat are idempotent (``open_window``, ``record_answer``, ``add_message``) or report
whether they changed anything (``redeem_code``, ``mark_missed``, ``mark_alerted``), so
handlers can run at least once and still act once. One contract suite
(``tests/probation/test_store_contract.py``) holds the SQLite and MongoDB adapters to it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from casework.probation.model import CheckinWindow, Enrolment, EnrolmentCode, EnrolmentStatus, OfficerMessage


class ProbationStore(ABC):
    @abstractmethod
    async def open(self) -> None:
        """Create tables / indexes; idempotent."""

    @abstractmethod
    async def add_enrolment(self, enrolment: Enrolment) -> None: ...

    @abstractmethod
    async def save_enrolment(self, enrolment: Enrolment) -> None:
        """Replace the officer-editable parts: alias, schedule, window, question set, status."""

    @abstractmethod
    async def get_enrolment(self, enrolment_id: str) -> Enrolment | None: ...

    @abstractmethod
    async def list_enrolments(
        self, officer: str | None = None, statuses: Sequence[EnrolmentStatus] | None = None
    ) -> list[Enrolment]:
        """Newest first; ``officer`` None means everyone's."""

    @abstractmethod
    async def link(self, enrolment_id: str, contact_id: str, channel: str, lang: str, now: datetime) -> bool:
        """Link a pending (or the same contact's) enrolment to a contact and make it active."""

    @abstractmethod
    async def enrolment_for_contact(self, contact_id: str) -> Enrolment | None:
        """The contact's latest active or paused enrolment."""

    @abstractmethod
    async def add_code(self, code: EnrolmentCode) -> None: ...

    @abstractmethod
    async def redeem_code(self, code: str, contact_id: str, now: datetime) -> str | None:
        """The code's enrolment id if it is unexpired and unused, or already used by this contact.

        Using it marks it used, so a second contact can never redeem it.
        """

    @abstractmethod
    async def codes_for(self, enrolment_id: str) -> list[EnrolmentCode]: ...

    @abstractmethod
    async def open_window(self, window: CheckinWindow) -> CheckinWindow:
        """Insert the window unless it exists; returns the stored one."""

    @abstractmethod
    async def get_window(self, enrolment_id: str, occ_key: str) -> CheckinWindow | None: ...

    @abstractmethod
    async def window_at(self, enrolment_id: str, now: datetime) -> CheckinWindow | None:
        """The latest-opened window with ``opens_at <= now < closes_at``."""

    @abstractmethod
    async def windows(self, enrolment_id: str, limit: int = 1000) -> list[CheckinWindow]:
        """Oldest first."""

    @abstractmethod
    async def record_answer(self, enrolment_id: str, occ_key: str, field: str, value: str, now: datetime) -> bool:
        """Set one answer (mood, attendance, note, needs_talk); an open window becomes checked in."""

    @abstractmethod
    async def mark_missed(self, enrolment_id: str, occ_key: str) -> bool:
        """Open -> missed; true only for the call that made the change."""

    @abstractmethod
    async def mark_alerted(self, enrolment_id: str, occ_key: str) -> bool:
        """Record that the officer was alerted; true only for the first call."""

    @abstractmethod
    async def add_message(self, message: OfficerMessage) -> bool:
        """Insert unless ``message.id`` exists (ids derive from the inbound seq); true if new."""

    @abstractmethod
    async def messages(self, enrolment_id: str, limit: int = 200) -> list[OfficerMessage]:
        """Newest first."""

    @abstractmethod
    async def erase_contact_data(self, contact_id: str, *, dry_run: bool = False) -> dict[str, int]:
        """The right to erasure (see :mod:`caseline.erasure`): the contact's answers and messages go,
        their enrolments are unlinked (active or paused ones back to pending); the plan and each
        window's times and status stay. Counts by kind; ``dry_run`` only counts."""

    @abstractmethod
    async def seal_plain(self, limit: int = 500) -> int:
        """Seal up to ``limit`` rows of free text written before encryption was on; how many
        (0 when none is left, or without a cipher). Each batch commits alone: resumable."""
