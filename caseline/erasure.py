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

The returned :class:`~caseline.store.base.ErasureReport` holds counts only, for the audit
trail: it records the fact of the erasure, never the content.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from caseline.store.base import ConversationStore, ErasureReport

OpenCaseCheck = Callable[[str], bool | Awaitable[bool]]


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
    *, keep_case_part: bool | None = None, dry_run: bool = False,
) -> ErasureReport:
    """Erase a contact; ``keep_case_part`` defaults to whether the contact has an open case."""
    keep = await is_case_open(has_open_case, contact_id) if keep_case_part is None else keep_case_part
    return await store.erase_contact(contact_id, keep, dry_run=dry_run)
