"""The pipeline's case gateway: store-backed, plus the in-memory one for bare tests.

``handling_case`` runs for every inbound message, so it is one indexed lookup and
nothing else; opening cases and live notifications go through the desk.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from caseline.ports import Escalation
from casework.core import Casework

log = logging.getLogger("caseline.casework")


class StoreCaseGateway:
    def __init__(self, casework: Casework) -> None:
        self.casework = casework
        self.desk = casework.desk

    async def escalate(self, escalation: Escalation) -> str:
        return await self.desk.escalate(escalation)

    async def handling_case(self, contact_id: str) -> str | None:
        return await self.desk.store.handling_case(contact_id)

    async def contact_wrote(self, case_id: str, contact_id: str) -> None:
        await self.desk.contact_wrote(case_id, contact_id)

    async def open_case(self, contact_id: str) -> str | None:
        return await self.desk.store.open_case(contact_id)

    async def record_erasure(self, contact_id: str, counts: Mapping[str, int]) -> None:
        await self.desk.audit.record("contact", "contact.erased", contact_id, **{k: str(v) for k, v in counts.items()})


class MemoryCaseGateway:
    """Records escalations in memory; for pipeline tests that don't need the queue."""

    def __init__(self) -> None:
        self.cases: dict[str, list[Escalation]] = {}

    async def escalate(self, escalation: Escalation) -> str:
        triggers = self.cases.setdefault(escalation.contact_id, [])
        if all(t.inbound_seq != escalation.inbound_seq for t in triggers):
            triggers.append(escalation)
        log.info("escalation severity=%s categories=%s", escalation.severity, escalation.categories)
        return f"case-{escalation.contact_id}"

    async def handling_case(self, contact_id: str) -> str | None:
        return None

    async def open_case(self, contact_id: str) -> str | None:
        return f"case-{contact_id}" if contact_id in self.cases else None

    async def record_erasure(self, contact_id: str, counts: Mapping[str, int]) -> None:
        log.info("contact erased: %s", dict(counts))

    async def contact_wrote(self, case_id: str, contact_id: str) -> None:
        return None
