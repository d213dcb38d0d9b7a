"""Node kinds that talk and stop: ``send``, ``end``, ``opt_out`` and ``erase``."""

from __future__ import annotations

from collections.abc import Iterator

from caseline.messages import Reply
from flows.events import OptOut, RequestErasure
from flows.nodes.base import JsonPath, NodeKind, RunContext, text_of
from flows.spec import Flow, Node


def say_text(run: RunContext, node: Node) -> None:
    text = text_of(node, "text")
    if text is not None:
        run.say(Reply(run.text(text)))


class Send(NodeKind):
    """Send one message, then carry on."""

    def enter(self, run: RunContext, flow: Flow, node: Node) -> None:
        say_text(run, node)
        run.goto(flow.next_of(node))


class End(NodeKind):
    """Finish this flow (optionally saying goodbye); a parent flow resumes."""

    falls_through = False

    def enter(self, run: RunContext, flow: Flow, node: Node) -> None:
        say_text(run, node)
        run.end_flow()

    def exits(self, node: Node) -> Iterator[tuple[JsonPath, str]]:
        return iter(())


class OptOutNode(End):
    """Stop all messages: emit ``OptOut``, confirm, and end every running flow."""

    def enter(self, run: RunContext, flow: Flow, node: Node) -> None:
        run.emit(OptOut())
        say_text(run, node)
        run.end_all()


class Erase(End):
    """Ask the service to erase the contact's data, confirm, and end every flow."""

    def enter(self, run: RunContext, flow: Flow, node: Node) -> None:
        run.emit(RequestErasure())
        say_text(run, node)
        run.end_all()
