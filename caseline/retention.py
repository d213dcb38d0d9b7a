"""Retention: keep each class of data only as long as it is needed.

Defaults (overridable from settings):

* conversations (state, transcript, remaining inbound/outbox rows, the data key) of
  contacts with no open case: 30 days after the last activity;
* processed inbound messages: 8 days (long enough to de-duplicate platform retries);
* outbox rows of sent messages: 30 days (delivery receipts arrive within hours).

MongoDB expires inbound and sent outbox rows by TTL indexes on its own; on SQLite, and for
conversations on both (a TTL index cannot ask the case store about open cases), run
:func:`sweep` periodically (``caseline retention sweep``, or a scheduled job). Resolved
cases and the audit trail have their own policy in the case store: pass their sweeps as
``extra`` hooks so one report covers everything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from caseline.erasure import OpenCaseCheck, is_case_open
from caseline.store.base import ConversationStore

# A hook for another store's data class: (now, dry_run) -> rows (to be) removed.
ExtraSweep = Callable[[datetime, bool], Awaitable[int]]


@dataclass(frozen=True)
class RetentionPolicy:
    conversation_days: int = 30
    inbound_days: int = 8
    sent_outbox_days: int = 30
    extra: Mapping[str, ExtraSweep] = field(default_factory=dict)


@dataclass
class RetentionReport:
    dry_run: bool
    inbound: int = 0
    outbox: int = 0
    conversations: int = 0
    conversation_rows: int = 0
    kept_open_case: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        out = [
            f"processed inbound messages: {verb} {self.inbound}",
            f"sent outbox messages: {verb} {self.outbox}",
            f"idle conversations: {verb} {self.conversations} ({self.conversation_rows} rows with them),"
            f" kept {self.kept_open_case} with an open case",
        ]
        out += [f"{name}: {verb} {n}" for name, n in self.extra.items()]
        return out


async def sweep(
    store: ConversationStore, policy: RetentionPolicy, now: datetime, dry_run: bool = False,
    has_open_case: OpenCaseCheck | None = None, batch: int = 500,
) -> RetentionReport:
    """Delete (or with ``dry_run`` count) what is past retention; counts per class."""
    report = RetentionReport(dry_run)
    report.inbound = await store.purge_inbound(now - timedelta(days=policy.inbound_days), dry_run=dry_run)
    report.outbox = await store.purge_sent_outbox(now - timedelta(days=policy.sent_outbox_days), dry_run=dry_run)
    cutoff, after = now - timedelta(days=policy.conversation_days), ""
    while True:
        contacts = await store.idle_contacts(cutoff, after, batch)
        if not contacts:
            break
        after = contacts[-1]
        for contact_id in contacts:
            if await is_case_open(has_open_case, contact_id):
                report.kept_open_case += 1
                continue
            erased = await store.erase_contact(contact_id, False, dry_run=dry_run)
            report.conversations += erased.conversation
            report.conversation_rows += erased.inbound + erased.outbox + erased.transcript
    for name, hook in policy.extra.items():
        report.extra[name] = await hook(now, dry_run)
    return report
