"""Writes the append-only audit log: who did what, to which case or account, and when.

Entries name actors, actions and targets; they never hold message text or passwords.
The log has no edit or delete path anywhere in the app.
"""

from __future__ import annotations

from typing import Any

from caseline.pipeline import Clock
from casework.model import AuditEntry
from casework.ports import CaseStore


class Auditor:
    def __init__(self, store: CaseStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def record(
        self, actor: str, action: str, target: str = "", result: str = "ok", **detail: Any
    ) -> None:
        if result not in ("ok", "denied", "failed"):
            raise ValueError(f"unknown audit result {result!r}")
        await self.store.append_audit(
            AuditEntry(self.clock(), actor, action, target, result, dict(detail))  # type: ignore[arg-type]
        )
