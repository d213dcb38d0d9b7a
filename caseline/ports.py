"""Ports the message pipeline calls into casework; casework provides the adapters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from caseline.messages import Inbound, Reply
    from flows.events import FlowEvent


@dataclass(frozen=True, slots=True)
class Escalation:
    """Why a contact needs a person; ``inbound_seq`` makes opening idempotent on replay."""

    contact_id: str
    channel: str
    severity: str
    categories: tuple[str, ...]
    reason: str
    inbound_seq: int | None
    lang: str
    country: str | None = None
    rules: tuple[str, ...] = ()


class CaseGateway(Protocol):
    async def escalate(self, escalation: Escalation) -> str:
        """Open a case for the contact, or add to its open one; returns the case id.

        Calling it twice for the same ``inbound_seq`` must not add twice.
        """
        ...

    async def handling_case(self, contact_id: str) -> str | None:
        """The id of a case a person is handling for this contact right now, if any."""
        ...

    async def contact_wrote(self, case_id: str, contact_id: str) -> None:
        """Tell the case's worker that the contact wrote (the text is in the transcript)."""
        ...

    async def open_case(self, contact_id: str) -> str | None:
        """The contact's open case in any status; its part survives an erasure."""
        ...

    async def record_erasure(self, contact_id: str, counts: Mapping[str, int]) -> None:
        """Audit that a contact's data was erased: the fact and the counts, never content."""
        ...


class TurnExtension(Protocol):
    """A feature that takes part in the bot's turn (probation enrolment and check-ins).

    It runs after the screen and the handoff check, so it never sees a message the
    safeguarding path took.
    """

    async def before_flow(
        self, message: Inbound, seq: int, fields: dict[str, str], state: dict[str, object]
    ) -> list[Reply] | None:
        """Answer the message instead of the flow engine, or None to let the flow run."""
        ...

    async def flow_events(
        self, message: Inbound, seq: int, fields: Mapping[str, str], events: Sequence[FlowEvent]
    ) -> None:
        """See the flow's events (answers, schedules); must be idempotent per ``seq``."""
        ...
