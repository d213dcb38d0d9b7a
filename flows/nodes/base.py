"""What a node kind is, and the narrow view of a run that node kinds may use.

A node kind is stateless: it reads its node's YAML mapping and acts through
:class:`RunContext` (say something, emit an event, move on, wait). The checker asks
the same kind which nodes and flows it points to, which strings it shows and which
channel limits it might break, so a new kind is one class in one module.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from caseline.messages import Reply
from flows.events import FlowEvent, FlowInput
from flows.spec import Flow, Node, Text

JsonPath = tuple[str | int, ...]


class RunContext(Protocol):
    """The run as seen by a node kind (implemented by ``flows.runner.Run``)."""

    @property
    def inp(self) -> FlowInput: ...

    @property
    def lang(self) -> str: ...

    @property
    def consent_version(self) -> int | None: ...

    def text(self, text: Text) -> str: ...

    def say(self, reply: Reply) -> None: ...

    def emit(self, event: FlowEvent) -> None: ...

    def set_field(self, name: str, value: str) -> None: ...

    def lookup(self, operand: str) -> str | None: ...

    def accept(self, value: str) -> None: ...

    def remember(self, name: str, value: str) -> None: ...

    def goto(self, node_id: str | None) -> None: ...

    def wait(self) -> None: ...

    def enter_flow(self, flow_id: str, then: str | None, returns: bool) -> None: ...

    def end_flow(self) -> None: ...

    def end_all(self) -> None: ...

    def error(self, code: str, detail: str) -> None: ...

    def retry_text(self) -> str: ...


class NodeKind:
    """Base node kind: does nothing and falls through to the next node."""

    falls_through = True

    def enter(self, run: RunContext, flow: Flow, node: Node) -> None:
        run.goto(flow.next_of(node))

    def resume(self, run: RunContext, flow: Flow, node: Node) -> bool:
        """Handle the contact's input while this node waits; False means "not an answer"."""
        return False

    def retry(self, run: RunContext, flow: Flow, node: Node) -> None:
        self.enter(run, flow, node)

    def exits(self, node: Node) -> Iterator[tuple[JsonPath, str]]:
        """Node ids this node may go to explicitly (the implicit fall-through is not listed)."""
        if node.get("next"):
            yield ("next",), str(node.get("next"))

    def continues(self, node: Node) -> bool:
        """Whether the node may continue to ``flow.next_of(node)``."""
        return self.falls_through

    def flow_refs(self, node: Node) -> Iterator[tuple[JsonPath, str]]:
        return iter(())

    def texts(self, node: Node) -> Iterator[tuple[JsonPath, Text]]:
        if node.get("text") is not None:
            yield ("text",), node.get("text")

    def lint(self, node: Node, langs: tuple[str, ...]) -> Iterator[tuple[JsonPath, str]]:
        """Content problems the schema cannot see (channel limits, bad patterns)."""
        return iter(())


def text_of(node: Node, key: str) -> Text | None:
    value = node.get(key)
    return value if isinstance(value, str | Mapping) else None
