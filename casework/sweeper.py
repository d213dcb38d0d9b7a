"""The background sweeper: lapsed claims go back to the queue, breaches page on-call.

It reads time from the injected clock, so tests move time instead of waiting. Each
(case, breach kind, notifier) alert is claimed in the store before it is sent, so
several processes sweeping at once still send it once; a failed send is un-claimed
and retried on the next pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from casework.desk import Desk
from casework.model import HANDLED, Case
from casework.notify import Alert, Notifier

log = logging.getLogger("caseline.casework.sweeper")
CRITICAL_PAGE_AFTER = timedelta(minutes=2)


def breaches(case: Case, now: datetime, page_after: timedelta = CRITICAL_PAGE_AFTER) -> list[str]:
    """Alert kinds a case is in now. An unclaimed critical case pages early and alone."""
    if case.first_response_at is not None or not case.is_open:
        return []
    if case.severity == "critical" and case.status == "waiting" and now >= case.opened_at + page_after:
        return ["critical_unclaimed"]
    if case.sla_due is not None and now >= case.sla_due:
        return ["sla_breach"]
    return []


class Sweeper:
    def __init__(
        self,
        desk: Desk,
        notifiers: Sequence[Notifier],
        public_url: str,
        page_after: timedelta = CRITICAL_PAGE_AFTER,
    ) -> None:
        self.desk = desk
        self.notifiers = list(notifiers)
        self.on_breach: Callable[[str], None] = lambda severity: None
        self.public_url = public_url.rstrip("/")
        self.page_after = min(page_after, desk.config.sla_for("critical") or page_after)

    async def run_once(self) -> int:
        """One pass; returns how many alerts were sent."""
        store, now = self.desk.store, self.desk.clock()
        for case_id in await store.release_lapsed(now):
            await self.desk.audit.record("system", "case.lease_lapsed", case_id)
            case = await store.get(case_id)
            if case is not None:
                self.desk.hub.publish(case.team, {"type": "queue", "case_id": case_id})
        sent = 0
        for case in await store.list_cases(None, ["waiting", *HANDLED]):
            for kind in breaches(case, now, self.page_after):
                sent += await self._alert(case, kind, now)
        return sent

    async def _alert(self, case: Case, kind: str, now: datetime) -> int:
        alert = Alert(case.id, kind, case.severity, case.team, f"{self.public_url}/console/cases/{case.id}")
        sent = 0
        # Counted once per case and breach kind, whether or not any notifier is configured.
        if await self.desk.store.claim_alert(case.id, kind, "metrics", now):
            self.on_breach(case.severity)
        for notifier in self.notifiers:
            if not await self.desk.store.claim_alert(case.id, kind, notifier.name, now):
                continue
            if await notifier.send(alert):
                sent += 1
                await self.desk.audit.record(
                    "system", "alert.sent", case.id, kind=kind, notifier=notifier.name
                )
            else:
                await self.desk.store.release_alert(case.id, kind, notifier.name)
        return sent

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("sweep failed")
            await asyncio.sleep(self.desk.config.sweep_seconds)
