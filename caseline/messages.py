"""The one inbound message type and the one reply type that cross every layer.

Connectors translate a platform's payload into an :class:`Inbound` and render a
:class:`Reply` back; nothing between them knows which platform it is talking to.
Both are frozen so a stage can never change what an earlier stage saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Channel = Literal["webchat", "telegram", "whatsapp", "viber", "cli"]
InboundKind = Literal["text", "button", "location", "media", "start", "system"]

MAX_TEXT_CHARS = 4096


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message from a contact, already authenticated and normalised by its connector."""

    channel: str
    platform_user_id: str
    contact_id: str
    platform_message_id: str
    received_at: datetime
    text: str | None = None
    payload: str | None = None
    kind: InboundKind = "text"
    lang_hint: str | None = None
    country: str | None = None

    @property
    def content(self) -> str:
        """What the contact sent, for screening: typed text, else the button payload."""
        return self.text if self.text is not None else (self.payload or "")

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "platform_user_id": self.platform_user_id,
            "contact_id": self.contact_id,
            "platform_message_id": self.platform_message_id,
            "received_at": self.received_at.isoformat(),
            "text": self.text,
            "payload": self.payload,
            "kind": self.kind,
            "lang_hint": self.lang_hint,
            "country": self.country,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Inbound:
        return cls(
            channel=str(data["channel"]),
            platform_user_id=str(data["platform_user_id"]),
            contact_id=str(data["contact_id"]),
            platform_message_id=str(data["platform_message_id"]),
            received_at=datetime.fromisoformat(str(data["received_at"])),
            text=data.get("text"),
            payload=data.get("payload"),
            kind=data.get("kind", "text"),
            lang_hint=data.get("lang_hint"),
            country=data.get("country"),
        )


@dataclass(frozen=True, slots=True)
class Button:
    """A choice offered to the contact; ``payload`` comes back when it is chosen."""

    payload: str
    title: str


@dataclass(frozen=True, slots=True)
class Reply:
    """Something to say to a contact: plain text, reply buttons or a list of choices.

    Channels that cannot show buttons or lists call :meth:`as_text`, which numbers
    the choices so that a reply of "2" can be mapped back by :meth:`choice_for`.
    """

    text: str
    buttons: tuple[Button, ...] = ()
    list_items: tuple[Button, ...] = ()
    list_button: str = "Options"
    meta: Mapping[str, str] = field(default_factory=dict)

    @property
    def choices(self) -> tuple[Button, ...]:
        return self.buttons or self.list_items

    def as_text(self) -> str:
        if not self.choices:
            return self.text
        lines = [self.text, ""]
        lines += [f"{i}. {b.title}" for i, b in enumerate(self.choices, start=1)]
        return "\n".join(lines)

    def choice_for(self, answer: str) -> Button | None:
        """Map a typed number or an exact title back to the offered choice."""
        answer = answer.strip().rstrip(".").casefold()
        for i, button in enumerate(self.choices, start=1):
            if answer == str(i) or answer == button.title.casefold():
                return button
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "buttons": [{"payload": b.payload, "title": b.title} for b in self.buttons],
            "list_items": [{"payload": b.payload, "title": b.title} for b in self.list_items],
            "list_button": self.list_button,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reply:
        return cls(
            text=str(data["text"]),
            buttons=tuple(Button(str(b["payload"]), str(b["title"])) for b in data.get("buttons", ())),
            list_items=tuple(
                Button(str(b["payload"]), str(b["title"])) for b in data.get("list_items", ())
            ),
            list_button=str(data.get("list_button", "Options")),
            meta={str(k): str(v) for k, v in dict(data.get("meta", {})).items()},
        )
