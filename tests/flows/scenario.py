"""Replay a golden scenario through the pure engine and summarise what came out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flows.engine import FlowEngine
from flows.events import (
    FlowEnded,
    FlowError,
    FlowEvent,
    FlowInput,
    OpenCase,
    OptOut,
    RecordAnswer,
    RequestErasure,
    ScheduleJob,
    SendReply,
    SetField,
)

# Every turn "arrives" at this time, so consent records in the goldens stay stable.
ARRIVED = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)


def reply_summary(event: SendReply) -> Any:
    reply = event.reply
    if reply.buttons:
        return {"text": reply.text, "buttons": [b.title for b in reply.buttons]}
    if reply.list_items:
        return {"text": reply.text, "list": [b.title for b in reply.list_items]}
    return reply.text


def event_summary(event: FlowEvent) -> str:
    match event:
        case SetField(name=name, value=value):
            return f"SetField {name}={value}"
        case RecordAnswer(flow=flow, node=node, value=value):
            return f"RecordAnswer {flow}/{node}={value}"
        case OpenCase(reason=reason, severity=severity, categories=categories):
            return f"OpenCase {reason} {severity} {list(categories)}".rstrip()
        case ScheduleJob(kind=kind, data=data):
            return f"ScheduleJob {kind} {dict(sorted(data.items()))}"
        case FlowEnded(flow=flow):
            return f"FlowEnded {flow}"
        case FlowError(code=code, detail=detail):
            return f"FlowError {code}: {detail}"
        case OptOut():
            return "OptOut"
        case RequestErasure():
            return "RequestErasure"
    return repr(event)


def to_input(send: Mapping[str, Any]) -> FlowInput:
    intent = send.get("intent")
    return FlowInput(
        text=send.get("text"),
        payload=send.get("payload"),
        intent=intent,
        intent_confidence=float(send.get("confidence", 0.9 if intent else 0.0)),
        entities={str(k): str(v) for k, v in dict(send.get("entities", {})).items()},
        received_at=ARRIVED,
    )


def replay(engine: FlowEngine, turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run every turn; return the turns with ``expect`` and ``events`` as they are now."""
    session: dict[str, Any] | None = None
    fields: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for turn in turns:
        fields.update({str(k): str(v) for k, v in dict(turn.get("fields", {})).items()})
        result = engine.step(session, fields, to_input(turn["send"]))
        session = result.session
        for event in result.events:
            if isinstance(event, SetField):
                fields[event.name] = event.value
        actual = {k: turn[k] for k in ("fields", "send") if k in turn}
        actual["expect"] = [reply_summary(e) for e in result.events if isinstance(e, SendReply)]
        actual["events"] = [event_summary(e) for e in result.events
                            if not isinstance(e, SendReply)]
        out.append(actual)
    return out
