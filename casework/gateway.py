"""Placeholder case gateway for the foundation: records escalations in memory.

The case-worker queue replaces it with a store-backed gateway behind the same port.
"""

from __future__ import annotations

import logging

from caseline.ports import Escalation

log = logging.getLogger("caseline.casework")


class MemoryCaseGateway:
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

    async def contact_wrote(self, case_id: str, contact_id: str) -> None:
        return None
