"""Ports the message pipeline calls into casework; casework provides the adapters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
