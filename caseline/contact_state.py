"""Conversation-state keys that connectors and the pipeline share.

A typed "2" means the second choice the contact was last shown, on every platform, so the
choices shown are kept in the conversation state. Replies decided in a turn record their
choices in the same commit as the turn (no extra store call per message); replies queued
outside a turn (a case worker, a reminder) record theirs when they are sent.
"""

from __future__ import annotations

from typing import Any

from caseline.messages import Button, Reply

OFFERED = "offered_choices"
UNREACHABLE = "unreachable"
TURN_KEY_PREFIX = "in:"  # outbox keys of replies decided in a turn: "in:<seq>:<i>"


def offered(state: dict[str, Any]) -> tuple[Button, ...]:
    raw = state.get(OFFERED)
    if not isinstance(raw, list):
        return ()
    return tuple(Button(str(p), str(t)) for p, t in (x for x in raw if isinstance(x, list) and len(x) == 2))


def offered_value(reply: Reply) -> list[list[str]]:
    """The state value for "these choices are on screen now" (empty: none are)."""
    return [[b.payload, b.title] for b in reply.choices]


def typed_choice(state: dict[str, Any], text: str) -> Button | None:
    """The offered choice a typed number, exact title or returned payload stands for."""
    choices = offered(state)
    if not choices:
        return None
    button = Reply("", buttons=choices).choice_for(text)
    return button or next((b for b in choices if b.payload == text), None)


def decided_in_turn(outbox_key: str) -> bool:
    return outbox_key.startswith(TURN_KEY_PREFIX)
