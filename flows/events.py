"""The flow engine's input and the events it emits; the service applies the events.

The engine is pure: ``(session, fields, FlowInput) -> StepResult``. Everything that
touches the world (sending, opening a case, scheduling, erasing) is an event here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from caseline.messages import Reply


@dataclass(frozen=True, slots=True)
class FlowInput:
    """One turn from the contact, after screening and NLU.

    ``received_at`` is when the message arrived; the engine has no clock, so this is
    the only time it knows (a consent record is stamped with it).
    """

    text: str | None = None
    payload: str | None = None
    intent: str | None = None
    intent_confidence: float = 0.0
    entities: Mapping[str, str] = field(default_factory=dict)
    channel: str = "webchat"
    lang_hint: str | None = None
    country: str | None = None
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SendReply:
    reply: Reply


@dataclass(frozen=True, slots=True)
class OpenCase:
    """Hand the contact to a person; ``reason`` is shown to the case worker."""

    reason: str
    severity: str = "low"
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SetField:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class ScheduleJob:
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordAnswer:
    """An answer worth keeping outside the conversation state (feedback, check-ins)."""

    flow: str
    node: str
    value: str


@dataclass(frozen=True, slots=True)
class OptOut:
    pass


@dataclass(frozen=True, slots=True)
class RequestErasure:
    pass


@dataclass(frozen=True, slots=True)
class FlowEnded:
    flow: str


@dataclass(frozen=True, slots=True)
class FlowError:
    """A content problem met at run time; the run continues where it safely can."""

    code: str
    detail: str


FlowEvent = (
    SendReply
    | OpenCase
    | SetField
    | ScheduleJob
    | RecordAnswer
    | OptOut
    | RequestErasure
    | FlowEnded
    | FlowError
)


@dataclass(frozen=True, slots=True)
class StepResult:
    session: dict[str, Any] | None
    events: tuple[FlowEvent, ...] = ()

    @property
    def replies(self) -> tuple[Reply, ...]:
        return tuple(e.reply for e in self.events if isinstance(e, SendReply))
