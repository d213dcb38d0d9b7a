"""Node kinds that change something: ``set_field``, ``record_consent``, ``enter_flow``, ``handoff``, ``schedule``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from flows.events import OpenCase, ScheduleJob
from flows.nodes.base import JsonPath, NodeKind, RunContext
from flows.nodes.messages import say_text
from flows.spec import CONSENT_AT_FIELD, CONSENT_VERSION_FIELD, Flow, Node


class SetFieldNode(NodeKind):
    """Set a contact field from a literal ``value`` or ``from`` an operand."""

    def enter(self, run: RunContext, flow: Flow, node: Node) -> None:
        field = str(node.get("field"))
        value = node.get("value")
        if value is None:
            value = run.lookup(str(node.get("from")))
        if value is None:
            run.error("empty_value", f"{flow.id}/{node.id}: nothing to set {field} to")
        else:
            run.set_field(field, str(value))
        run.goto(flow.next_of(node))


class RecordConsent(NodeKind):
    """Keep which privacy notice version the contact agreed to, and when.

    The version comes from ``_config.yml`` rather than the flow, so a content designer
    bumps it in one place and every contact on an older version is asked again. The
    time is the agreeing message's arrival (the engine has no clock). Without it the
    old time is cleared rather than left beside the new version, and the gap is
    reported, so a record never claims a time it does not know.
    """

    def enter(self, run: RunContext, flow: Flow, node: Node) -> None:
        version = run.consent_version
        if version is None:
            run.error("no_consent_version", f"{flow.id}/{node.id}: no consent_version configured")
        else:
            at = run.inp.received_at
            if at is None:
                run.error("no_consent_time", f"{flow.id}/{node.id}: the input has no time")
            run.set_field(CONSENT_AT_FIELD, utc_iso(at) if at is not None else "")
            run.set_field(CONSENT_VERSION_FIELD, str(version))
        run.goto(flow.next_of(node))


def utc_iso(at: datetime) -> str:
    """``at`` as an ISO 8601 UTC timestamp; a naive time is taken to be UTC already."""
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return aware.isoformat(timespec="seconds")


class EnterFlow(NodeKind):
    """Run another flow; with ``return: false`` it replaces the running flows instead."""

    def enter(self, run: RunContext, flow: Flow, node: Node) -> None:
        returns = bool(node.get("return", True))
        then = flow.next_of(node) if returns else None
        run.enter_flow(str(node.get("flow")), then, returns)

    def continues(self, node: Node) -> bool:
        return bool(node.get("return", True))

    def flow_refs(self, node: Node) -> Iterator[tuple[JsonPath, str]]:
        yield ("flow",), str(node.get("flow"))


class Handoff(NodeKind):
    """Open a case so a person takes over (``OpenCase``), then tell the contact."""

    def enter(self, run: RunContext, flow: Flow, node: Node) -> None:
        run.emit(
            OpenCase(
                reason=str(node.get("reason")),
                severity=str(node.get("severity", "low")),
                categories=tuple(str(c) for c in node.get("categories") or ()),
            )
        )
        say_text(run, node)
        run.goto(flow.next_of(node))


class Schedule(NodeKind):
    """Ask the service to run a job later (``ScheduleJob``), e.g. the next check-in."""

    def enter(self, run: RunContext, flow: Flow, node: Node) -> None:
        data = node.get("data") or {}
        job_data = dict(data) if isinstance(data, Mapping) else {}
        run.emit(ScheduleJob(kind=str(node.get("job")), data=job_data))
        say_text(run, node)
        run.goto(flow.next_of(node))
