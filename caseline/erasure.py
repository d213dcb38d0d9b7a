"""Erasing a contact on request (the right to erasure) while protecting an open case.

A child may ask to be forgotten; a safeguarding case open about them may still need the
conversation (a worker is answering, or a referral depends on it). So erasure asks the
case store first (``has_open_case``, supplied by the composition root) and then:

* no open case: everything goes (inbound, outbox, transcript, conversation, data key).
  The data key is deleted first, so any copy left anywhere (a replica, a backup of the
  data) is unreadable from that moment, and unrecoverable once the key store's backups
  that held the key have expired.
* open case: the transcript and the data key stay (the case's part: we keep the whole
  transcript rather than cutting at the first trigger, because the context before the
  trigger is what a worker needs to judge it); inbound, outbox and the conversation's
  message history go, and the conversation keeps only routing and control state so the
  worker can still reply. Erase again when the case is closed.

Other stores keep parts of a contact too:

* probation, passed as a :class:`ContactEraser` and erased after the conversation whether
  or not a case is open, because it is not the case's part (the transcript a case keeps
  already holds what the contact wrote): the young person's check-in
  answers and the messages they left for their officer are removed, and the enrolment is
  unlinked from the contact (back to ``pending``, so the officer can issue a new code).
  The officer keeps the plan (alias, schedule) and the compliance facts: every window with
  its times and whether it was checked in, missed or alerted, without any content.
* case notes, referrals and outcomes are sealed under the contact's data key: with no
  open case the key's deletion makes them unreadable (the resolved case's metadata stays,
  as the organisation's record); with an open case they stay readable, as its part.

The returned :class:`~caseline.store.base.ErasureReport` holds counts only, for the audit
trail: it records the fact of the erasure, never the content.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from caseline.store.base import ConversationStore, ErasureReport

OpenCaseCheck = Callable[[str], bool | Awaitable[bool]]


class ContactEraser(Protocol):
    """Another store's part of a contact, erased with the conversation."""

    async def erase_contact_data(self, contact_id: str, *, dry_run: bool = False) -> Mapping[str, int]:
        """Remove (or with ``dry_run`` count) the contact's data; counts by kind, never content."""
        ...


def no_open_cases(_contact_id: str) -> bool:
    return False


async def is_case_open(check: OpenCaseCheck | None, contact_id: str) -> bool:
    """Call a sync or async ``has_open_case``."""
    if check is None:
        return False
    result = check(contact_id)
    return bool(await result) if inspect.isawaitable(result) else bool(result)


async def erase_contact(
    store: ConversationStore, contact_id: str, has_open_case: OpenCaseCheck | None = None,
    *, keep_case_part: bool | None = None, dry_run: bool = False, also: Sequence[ContactEraser] = (),
) -> ErasureReport:
    """Erase a contact; ``keep_case_part`` defaults to whether the contact has an open case.

    The conversation goes first: without an open case that deletes the data key, so every
    copy of everything sealed under it is unreadable before any row is touched.
    """
    keep = await is_case_open(has_open_case, contact_id) if keep_case_part is None else keep_case_part
    report = await store.erase_contact(contact_id, keep, dry_run=dry_run)
    other: dict[str, int] = dict(report.other)
    for eraser in also:
        other.update(await eraser.erase_contact_data(contact_id, dry_run=dry_run))
    return replace(report, other=other) if other else report
