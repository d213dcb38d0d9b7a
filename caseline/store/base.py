"""The conversation store port: inbox, conversation state, outbox and transcript.

Two adapters implement it (SQLite for the embedded default, MongoDB for production)
and one contract suite (tests/contracts) holds them to the same behaviour.

Correctness rests on three store-side mechanisms, never on process memory:

* a unique key on (channel, platform message id) de-duplicates platform retries;
* a lease on the conversation row serialises one contact's turns across processes;
* an optimistic ``version`` on the conversation refuses a stale write.

Both adapters take an optional :class:`caseline.crypto.FieldCipher`; with one, message
texts, platform user ids and conversation state are encrypted at rest under per-contact
data keys kept in a separate key store (see :mod:`caseline.crypto`). The privacy methods
at the end (erasure, retention, key rotation) are driven by :mod:`caseline.erasure`,
:mod:`caseline.retention` and ``caseline keys``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from caseline.messages import Inbound, Reply

OutboxStatus = Literal["pending", "sent", "failed"]
DELIVERY_ORDER = {"sent": 1, "delivered": 2, "read": 3, "played": 3, "failed": 9}
Direction = Literal["in", "out"]


class StoreError(Exception):
    """Base of the store's exception tree."""


class StoreUnavailable(StoreError):
    """The store cannot be reached; callers answer 503 so platforms retry."""


class VersionConflict(StoreError):
    """Someone else committed a turn for this contact since it was loaded."""


@dataclass(frozen=True, slots=True)
class InboundRecord:
    seq: int
    message: Inbound
    status: Literal["pending", "done"]


@dataclass(frozen=True, slots=True)
class Conversation:
    contact_id: str
    channel: str
    platform_user_id: str
    state: dict[str, Any]
    version: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class OutboxDraft:
    """A reply decided in a turn; ``key`` makes enqueueing it idempotent."""

    key: str
    contact_id: str
    channel: str
    platform_user_id: str
    reply: Reply
    inbound_seq: int | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    key: str
    contact_id: str
    channel: str
    platform_user_id: str
    reply: Reply
    inbound_seq: int | None
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    error: str | None = None
    platform_message_id: str | None = None
    delivery: str | None = None


@dataclass(frozen=True, slots=True)
class TranscriptDraft:
    contact_id: str
    direction: Direction
    author: str
    text: str
    at: datetime
    inbound_seq: int | None = None


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    seq: int
    contact_id: str
    direction: Direction
    author: str
    text: str
    at: datetime
    inbound_seq: int | None = None


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """What erasing a contact removed (counts only: audit keeps the fact, never content)."""

    contact_id: str
    inbound: int = 0
    outbox: int = 0
    transcript: int = 0
    conversation: int = 0
    data_key: int = 0
    kept_transcript: int = 0
    kept_data_key: bool = False
    dry_run: bool = False
    # Counts from the other stores erased with the conversation (probation check-ins...).
    other: Mapping[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id, "inbound": self.inbound, "outbox": self.outbox,
            "transcript": self.transcript, "conversation": self.conversation, "data_key": self.data_key,
            "kept_transcript": self.kept_transcript, "kept_data_key": self.kept_data_key,
            **self.other, "dry_run": self.dry_run,
        }


@dataclass(frozen=True, slots=True)
class TurnCommit:
    """Everything one processed inbound message changes, written as one unit."""

    contact_id: str
    expected_version: int
    state: dict[str, Any]
    inbound_seq: int
    outbox: Sequence[OutboxDraft] = field(default_factory=tuple)
    transcript: Sequence[TranscriptDraft] = field(default_factory=tuple)


class ConversationStore(ABC):
    """Port for the message path; every method is atomic on its own."""

    @abstractmethod
    async def open(self) -> None:
        """Connect and create indexes; idempotent."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> bool: ...

    @abstractmethod
    async def ensure_conversation(self, contact_id: str, channel: str, platform_user_id: str) -> None:
        """Create the conversation row if it does not exist yet."""

    @abstractmethod
    async def accept_inbound(self, message: Inbound) -> int | None:
        """Persist an inbound message; ``None`` if this platform message id was seen before."""

    @abstractmethod
    async def next_pending(self, contact_id: str) -> InboundRecord | None:
        """The contact's oldest unprocessed inbound message."""

    @abstractmethod
    async def load_turn(self, contact_id: str) -> tuple[InboundRecord, Conversation] | None:
        """The oldest pending message and the conversation's current state, read together."""

    @abstractmethod
    async def inbound_status(self, seq: int) -> str | None: ...

    @abstractmethod
    async def pending_contacts(self, limit: int = 100) -> list[str]:
        """Contacts with unprocessed inbound messages, for recovery after a crash."""

    @abstractmethod
    async def acquire_lease(self, contact_id: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take or renew the contact's processing lease; false if another owner holds it."""

    @abstractmethod
    async def release_lease(self, contact_id: str, owner: str) -> None: ...

    @abstractmethod
    async def release_if_idle(self, contact_id: str, owner: str) -> bool:
        """Release the lease unless a message is pending; true if released.

        Checking and releasing together means a message accepted meanwhile is never left
        without a processor: either we see it, or its submitter can take the lease.
        """

    async def lease_turn(
        self, contact_id: str, owner: str, now: datetime, until: datetime
    ) -> tuple[InboundRecord, Conversation] | None:
        """Take the lease and load the next turn, if one is pending and no one else holds it.

        None means there is nothing for this owner to do now, and it holds no lease: either
        nothing is pending or another owner is processing. A store may do this in one call;
        the message path runs it for every message.
        """
        if not await self.acquire_lease(contact_id, owner, now, until):
            return None
        while (turn := await self.load_turn(contact_id)) is None:
            if await self.release_if_idle(contact_id, owner):
                return None
            # one arrived in between: it is ours
        return turn

    async def commit_and_release(self, commit: TurnCommit, owner: str) -> bool:
        """:meth:`commit_turn`, then :meth:`release_if_idle`; true if the lease was released.

        A store may do both in one transaction (the usual turn is the contact's only one).
        """
        await self.commit_turn(commit)
        return await self.release_if_idle(commit.contact_id, owner)

    async def accept_and_lease(
        self, message: Inbound, owner: str, now: datetime, until: datetime
    ) -> tuple[int | None, tuple[InboundRecord, Conversation] | None]:
        """:meth:`accept_inbound`, then :meth:`lease_turn` for its contact.

        Returns the sequence number (None for a duplicate) and the turn now leased to
        ``owner``, if one is: the contact's oldest pending message, which is this one unless
        older ones wait. A store may do both in one transaction: every webhook does this.
        """
        seq = await self.accept_inbound(message)
        if seq is None:
            return None, None
        return seq, await self.lease_turn(message.contact_id, owner, now, until)

    async def commit_and_claim(
        self, commit: TurnCommit, owner: str, claim_until: datetime
    ) -> tuple[bool, list[OutboxItem]]:
        """:meth:`commit_and_release`, and the turn's first reply claimed for ``owner``.

        The reply is claimed (leased until ``claim_until``, as :meth:`claim_outbox` would)
        only if it is the head of its contact's queue, so per-contact order holds; the
        caller sends it at once instead of waiting for the next claim. A store may claim
        nothing (the outbox worker then claims it as usual).
        """
        return await self.commit_and_release(commit, owner), []

    @abstractmethod
    async def load_conversation(self, contact_id: str) -> Conversation | None: ...

    @abstractmethod
    async def commit_turn(self, commit: TurnCommit) -> None:
        """Apply a turn: state (version-checked), outbox, transcript, inbound done.

        Raises :class:`VersionConflict` without writing anything if the version moved.
        Re-committing an inbound message that is already done is a no-op.
        """

    @abstractmethod
    async def enqueue(self, drafts: Sequence[OutboxDraft], transcript: Sequence[TranscriptDraft]) -> None:
        """Queue replies outside a turn (a case worker's answer, a reminder)."""

    @abstractmethod
    async def claim_outbox(
        self, owner: str, now: datetime, lease_until: datetime, limit: int = 50
    ) -> list[OutboxItem]:
        """Lease due items, at most the head of each contact's queue, oldest first."""

    @abstractmethod
    async def complete_outbox(
        self, item_id: int, status: OutboxStatus, error: str | None = None,
        platform_message_id: str | None = None,
    ) -> None: ...

    @abstractmethod
    async def update_delivery(self, channel: str, platform_message_id: str, delivery: str) -> bool:
        """Record a platform's delivery receipt; states only move forward (sent < delivered < read).

        ``failed`` is recorded whatever came before. Returns false for an unknown message.
        """

    @abstractmethod
    async def retry_outbox(self, item_id: int, next_attempt_at: datetime, error: str) -> None: ...

    @abstractmethod
    async def outbox_for_inbound(self, inbound_seq: int) -> list[OutboxItem]: ...

    @abstractmethod
    async def outbox_since(self, contact_id: str, after_id: int = 0, limit: int = 100) -> list[OutboxItem]:
        """A contact's replies after ``after_id``, for channels that poll (the web chat)."""

    @abstractmethod
    async def outbox_backlog(self) -> int: ...

    @abstractmethod
    async def transcript(self, contact_id: str, after_seq: int = 0, limit: int = 200) -> list[TranscriptEntry]: ...

    @abstractmethod
    async def update_state(self, contact_id: str, mutate: dict[str, Any]) -> None:
        """Merge keys into a conversation's state outside a turn (e.g. a handoff ending)."""

    # -- privacy: erasure, retention, key rotation ---------------------------------------
    @abstractmethod
    async def erase_contact(
        self, contact_id: str, keep_case_part: bool = False, *, dry_run: bool = False
    ) -> ErasureReport:
        """Delete the contact's inbound, outbox, transcript, conversation row and data key.

        With ``keep_case_part`` (an open safeguarding case holds the conversation) the
        transcript and the data key stay, and the conversation row stays with only its
        routing (platform user id) and control state, so workers can still answer;
        inbound messages, outbox rows and the state's message history go.
        """

    @abstractmethod
    async def idle_contacts(self, before: datetime, after: str = "", limit: int = 500) -> list[str]:
        """Contacts whose last activity is before ``before`` and with nothing pending, by id after ``after``."""

    @abstractmethod
    async def purge_inbound(self, before: datetime, *, dry_run: bool = False) -> int:
        """Delete processed inbound messages received before ``before``; the count."""

    @abstractmethod
    async def purge_sent_outbox(self, before: datetime, *, dry_run: bool = False) -> int:
        """Delete outbox rows of messages sent before ``before``; the count."""

    @abstractmethod
    async def key_counts(self) -> dict[str, int]:
        """Wrapped data keys per master key id."""

    @abstractmethod
    async def rewrap_keys(self, limit: int = 500) -> int:
        """Re-wrap up to ``limit`` data keys not under the active master key; how many were."""
