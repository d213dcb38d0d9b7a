"""What every channel connector provides on the way out: a sender.

On the way in, a connector turns its platform's payload into
:class:`caseline.messages.Inbound` and hands it to the pipeline; that is all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from caseline.messages import Reply


@dataclass(frozen=True, slots=True)
class SendResult:
    """Outcome of one delivery attempt; the outbox decides what to do next."""

    ok: bool
    retry_after: float | None = None
    permanent: bool = False
    error: str | None = None
    platform_message_id: str | None = None

    @classmethod
    def sent(cls, platform_message_id: str | None = None) -> SendResult:
        return cls(ok=True, platform_message_id=platform_message_id)

    @classmethod
    def retry(cls, error: str, after: float | None = None) -> SendResult:
        return cls(ok=False, retry_after=after, error=error)

    @classmethod
    def failed(cls, error: str) -> SendResult:
        return cls(ok=False, permanent=True, error=error)


class Sender(Protocol):
    channel: str

    async def send(self, platform_user_id: str, reply: Reply, item_id: int) -> SendResult: ...
