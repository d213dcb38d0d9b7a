"""What the platform connectors share: authentication checks, JSON errors, intake and choice memory.

Each platform module only translates its own payloads; the rules that must be the same
everywhere live here once: constant-time secret checks, a JSON ``{"error"}`` for every
refusal, a typed number meaning the numbered choice last offered, and delivering an
inbound message durably (the store's unique key de-duplicates platform retries).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from caseline.contact_state import OFFERED, UNREACHABLE, offered_value
from caseline.identity import contact_id
from caseline.messages import Inbound, InboundKind, Reply
from caseline.pipeline import Pipeline
from caseline.store.base import ConversationStore, OutboxDraft, TranscriptDraft

log = logging.getLogger("caseline.bots")

MEDIA_ACK = (
    "Thank you for sending that. I can't open photos, voice notes or files here, "
    "so please tell me in words what you would like to say."
)


def refuse(status: type[web.HTTPException], reason: str) -> web.HTTPException:
    """A 4xx that leaves as ``{"error": reason}``."""
    return status(text=json.dumps({"error": reason}), content_type="application/json")


def same_secret(expected: str, given: str | None) -> bool:
    """Constant-time comparison; an unset expected secret never matches."""
    if not expected or given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def hmac_hex(key: str, raw: bytes) -> str:
    return hmac.new(key.encode(), raw, "sha256").hexdigest()


def json_object(raw: bytes) -> dict[str, Any]:
    """Parse an authenticated body; malformed JSON or a non-object is a 400."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise refuse(web.HTTPBadRequest, "body must be JSON") from None
    if not isinstance(body, dict):
        raise refuse(web.HTTPBadRequest, "body must be a JSON object")
    return body


def split_text(text: str, limit: int) -> list[str]:
    """Split at paragraph, line or word boundaries so no part exceeds ``limit`` characters."""
    parts: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind(sep, 0, limit + 1) for sep in ("\n\n", "\n", " "))
        cut = cut if cut > limit // 2 else limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    parts.append(text)
    return [p for p in parts if p] or [""]


def platform_time(timestamp: object, now: datetime) -> datetime:
    """A platform's unix timestamp, never later than now (the 24-hour window counts from it)."""
    try:
        when = datetime.fromtimestamp(int(str(timestamp)), UTC)
    except (ValueError, OverflowError, OSError):
        return now
    return min(when, now)


async def remember_offered(store: ConversationStore, contact: str, reply: Reply) -> None:
    """Keep the choices just shown (or none), for replies queued outside a turn.

    One store call: the store skips the write when the choices are already the stored ones.
    """
    await store.update_state(contact, {OFFERED: offered_value(reply)})


async def mark_unreachable(store: ConversationStore, contact: str, channel: str) -> None:
    await store.update_state(contact, {UNREACHABLE: channel})


class PartProgress:
    """How many parts of a split reply went out, so a retry resumes instead of repeating them.

    Kept in memory and bounded: after a restart a part may be sent twice (at-least-once).
    """

    def __init__(self, max_items: int = 10_000) -> None:
        self.max_items = max_items
        self._done: OrderedDict[int, int] = OrderedDict()

    def sent(self, item_id: int) -> int:
        return self._done.get(item_id, 0)

    def advance(self, item_id: int, parts: int) -> None:
        self._done[item_id] = parts
        while len(self._done) > self.max_items:
            self._done.popitem(last=False)

    def finish(self, item_id: int) -> None:
        self._done.pop(item_id, None)


@dataclass
class Intake:
    """Turns a translated platform message into an :class:`Inbound` and accepts it durably."""

    channel: str
    pipeline: Pipeline
    store: ConversationStore
    secret_key: str
    clock: Callable[[], datetime]
    # Contact -> when their latest message reached this process: a lower bound on the stored
    # last_inbound_at, so a sender can tell a platform's reply window is open without a read.
    recent: OrderedDict[str, datetime] = field(default_factory=OrderedDict)
    recent_max: int = 10_000

    def contact(self, platform_user_id: str) -> str:
        return contact_id(self.secret_key, self.channel, platform_user_id)

    async def state(self, contact: str) -> dict[str, Any]:
        conv = await self.store.load_conversation(contact)
        return dict(conv.state) if conv is not None else {}

    async def submit(
        self, platform_user_id: str, message_id: str, *, text: str | None = None,
        payload: str | None = None, kind: InboundKind = "text", received_at: datetime | None = None,
        lang_hint: str | None = None,
    ) -> int | None:
        """Persist the message (None for a duplicate) and let the pipeline process it off the request.

        No state is read here: a typed "2" is mapped to the choice it names inside the turn,
        where the state is loaded anyway, and the turn also notes that the contact is back.
        """
        contact = self.contact(platform_user_id)
        message = Inbound(
            channel=self.channel, platform_user_id=platform_user_id, contact_id=contact,
            platform_message_id=message_id, received_at=received_at or self.clock(), text=text,
            payload=payload, kind=kind, lang_hint=lang_hint,
        )
        seq = await self.pipeline.accept(message)
        if seq is None:
            return None
        self._saw(contact, message.received_at)
        if kind == "media" and text is None:
            await self._acknowledge_media(message, seq)
        return seq

    def _saw(self, contact: str, when: datetime) -> None:
        self.recent[contact] = max(when, self.recent.get(contact, when))
        self.recent.move_to_end(contact)
        while len(self.recent) > self.recent_max:
            self.recent.popitem(last=False)

    def seen_since(self, contact: str, since: datetime) -> bool:
        """True if this process accepted a message from the contact after ``since``."""
        when = self.recent.get(contact)
        return when is not None and when > since

    async def _acknowledge_media(self, message: Inbound, seq: int) -> None:
        reply = Reply(MEDIA_ACK)
        draft = OutboxDraft(f"media-ack:{seq}", message.contact_id, self.channel, message.platform_user_id,
                            reply, seq)
        note = TranscriptDraft(message.contact_id, "out", "bot", MEDIA_ACK, self.clock(), seq)
        await self.store.enqueue([draft], [note])

    async def unreachable(self, platform_user_id: str, reachable: bool = False) -> None:
        """A platform told us the contact blocked us (or came back); only known contacts are touched."""
        contact = self.contact(platform_user_id)
        await self.store.update_state(contact, {UNREACHABLE: None if reachable else self.channel})
