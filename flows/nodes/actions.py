"""Node kinds that change something: ``set_field``, ``enter_flow``, ``handoff``, ``schedule``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from flows.events import OpenCase, ScheduleJob
from flows.nodes.base import JsonPath, NodeKind, RunContext
from flows.nodes.messages import say_text
from flows.spec import Flow, Node


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
