"""One turn of one contact: decode the session, react to the input, run nodes, encode.

The session is plain JSON the service stores between turns::

    {"stack": [{"flow": "parenting_sleep", "rev": "v3-1a2b...", "node": "ask_age"}],
     "waiting": true, "vars": {"child_age": "4"}, "answer": "yes"}

The top frame is the running flow; frames below wait for a sub-flow to return.
Nothing here reads a clock or does I/O; problems become ``FlowError`` events.

Consent gates everything else: while a contact has not agreed to the privacy notice
version in ``_config.yml``, only the onboarding flow and the ``before_onboarding``
globals run for them. A contact who agreed to an older version gets the onboarding flow
pushed in front of whatever they were doing, so agreeing resumes it and declining drops it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from caseline.messages import Reply
from flows import commands
from flows.events import FlowEnded, FlowError, FlowEvent, FlowInput, SendReply, SetField, StepResult
from flows.library import Library
from flows.nodes import NODE_KINDS
from flows.spec import (
    CONSENT_VERSION_FIELD,
    MAX_STACK,
    Flow,
    GlobalCommand,
    Node,
    Text,
    localize,
)

MAX_NODES_PER_TURN = 200


@dataclass(slots=True)
class Frame:
    flow: str
    rev: str
    node: str | None

    def to_json(self) -> dict[str, Any]:
        return {"flow": self.flow, "rev": self.rev, "node": self.node}


@dataclass(slots=True)
class State:
    stack: list[Frame] = field(default_factory=list)
    waiting: bool = False
    vars: dict[str, str] = field(default_factory=dict)
    answer: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": [f.to_json() for f in self.stack],
            "waiting": self.waiting,
            "vars": dict(self.vars),
            "answer": self.answer,
        }


def decode(session: Mapping[str, Any] | None) -> State | None:
    """The session as a :class:`State`; None if it is malformed."""
    if session is None:
        return State()
    try:
        stack = [_frame(f) for f in session.get("stack", [])]
        variables = {str(k): str(v) for k, v in dict(session.get("vars", {})).items()}
        answer = session.get("answer")
        waiting = session.get("waiting", False)
        if not isinstance(waiting, bool) or not (answer is None or isinstance(answer, str)):
            return None
        return State(stack, waiting and bool(stack), variables, answer)
    except (AttributeError, TypeError, ValueError, KeyError):
        return None


def _frame(data: Any) -> Frame:
    node = data["node"]
    if not (isinstance(data["flow"], str) and isinstance(data["rev"], str)):
        raise ValueError("bad frame")
    if node is not None and not isinstance(node, str):
        raise ValueError("bad frame")
    return Frame(data["flow"], data["rev"], node)


class Run:
    """The engine's side of one turn; node kinds act through its ``RunContext`` methods."""

    def __init__(
        self, library: Library, state: State, fields: Mapping[str, str], inp: FlowInput
    ) -> None:
        self.library = library
        self.config = library.config
        self.state = state
        self.fields = dict(fields)
        self._inp = inp
        self.events: list[FlowEvent] = []

    # -- RunContext -------------------------------------------------------------------
    @property
    def inp(self) -> FlowInput:
        return self._inp

    @property
    def lang(self) -> str:
        return self.fields.get("lang") or self.config.default_lang

    @property
    def consent_version(self) -> int | None:
        return self.config.consent_version

    def text(self, text: Text) -> str:
        flow = self.top_flow()
        default = flow.default_lang if flow else self.config.default_lang
        return localize(text, self.lang, default)

    def say(self, reply: Reply) -> None:
        self.emit(SendReply(reply))

    def emit(self, event: FlowEvent) -> None:
        self.events.append(event)

    def set_field(self, name: str, value: str) -> None:
        self.fields[name] = value
        self.emit(SetField(name, value))

    def lookup(self, operand: str) -> str | None:
        source, _, name = operand.partition(".")
        simple: dict[str, str | None] = {
            "answer": self.state.answer,
            "intent": commands.confident_intent(self.inp),
            "payload": self.inp.payload,
            "text": self.inp.text,
            "consent": self.consent(),
        }
        if source in simple:
            return simple[source]
        table: Mapping[str, str] = {
            "entity": self.inp.entities, "field": self.fields, "var": self.state.vars,
        }.get(source, {})
        return table.get(name)

    def accept(self, value: str) -> None:
        self.state.answer = value

    def remember(self, name: str, value: str) -> None:
        self.state.vars[name] = value

    def goto(self, node_id: str | None) -> None:
        if self.state.stack:
            self.state.stack[-1].node = node_id

    def wait(self) -> None:
        self.state.waiting = True

    def enter_flow(self, flow_id: str, then: str | None, returns: bool) -> None:
        flow = self.library.latest(flow_id)
        if flow is None:
            self.error("unknown_flow", f"no flow {flow_id!r}")
            self.goto(then)
            return
        if not returns:
            self.state.stack.clear()
        elif len(self.state.stack) >= MAX_STACK:
            self.error("stack_overflow", f"too many nested flows entering {flow_id!r}")
            self.state.stack.clear()
        else:
            self.goto(then)
        self.state.stack.append(Frame(flow.id, flow.rev, flow.start))

    def end_flow(self) -> None:
        self.goto(None)

    def end_all(self) -> None:
        self.state.stack.clear()
        self.state.waiting = False

    def error(self, code: str, detail: str) -> None:
        self.emit(FlowError(code, detail))

    def retry_text(self) -> str:
        return self.text(self.config.retry_text)

    # -- the turn ---------------------------------------------------------------------
    def top_flow(self) -> Flow | None:
        if not self.state.stack:
            return None
        frame = self.state.stack[-1]
        return self.library.pinned(frame.flow, frame.rev)

    def consent(self) -> str | None:
        """``current``, ``outdated`` (agreed to an older notice) or None (never agreed).

        Content without a ``consent_version`` asks for no consent, so everyone is current.
        """
        wanted = self.config.consent_version
        agreed = self.fields.get(CONSENT_VERSION_FIELD)
        if wanted is None:
            return "current"
        if not agreed:
            return None
        return "current" if agreed.strip() == str(wanted) else "outdated"

    def onboarded(self) -> bool:
        return self.consent() == "current" and self._profile_complete()

    def _profile_complete(self) -> bool:
        return all(self.fields.get(name) for name in self.config.onboarded_fields)

    def _known(self) -> bool:
        """Onboarded once, perhaps under an older notice: worth taking where they asked to go."""
        return self.consent() is not None and self._profile_complete()

    def _open_without_consent(self, flow_id: str) -> bool:
        """Flows a contact may be in before agreeing: onboarding, stop, delete, help, language."""
        return flow_id == self.config.onboarding_flow or any(
            g.before_onboarding and g.flow == flow_id for g in self.config.globals
        )

    def handle(self) -> None:
        waiting = self._waiting_node()
        command = commands.detect(self.config, self.inp, self.lang)
        if command is not None:
            self._run_command(command, waiting is not None)
        elif waiting is None:
            self._start_idle()
        elif self.consent() == "current" or self._open_without_consent(waiting[0].id):
            self._answer(*waiting)
        # Otherwise the answer is left unread: the question is asked again after consent.
        self._put_consent_first()
        self.advance()

    def _put_consent_first(self) -> None:
        """Slot the onboarding flow above the topmost flow that needs consent.

        Slotting it in (rather than replacing the stack) lets an agreeing contact resume
        what they were doing, and lets a global they just asked for (help, language, delete)
        run first, with the notice right after it.
        """
        if self.consent() == "current":
            return
        stack = self.state.stack
        if any(f.flow == self.config.onboarding_flow for f in stack):
            return
        gated = [i for i, f in enumerate(stack) if not self._open_without_consent(f.flow)]
        if not gated:
            return
        onboarding = self.library.latest(self.config.onboarding_flow)
        if onboarding is None or len(stack) >= MAX_STACK:
            self.end_all()  # nothing may run ahead of the notice, even what cannot resume
            self.enter_flow(self.config.onboarding_flow, None, returns=False)
        else:
            stack.insert(gated[-1] + 1, Frame(onboarding.id, onboarding.rev, onboarding.start))

    def _waiting_node(self) -> tuple[Flow, Node] | None:
        if not self.state.waiting:
            return None
        self.state.waiting = False
        found = self._current_node()
        if found is None or found[1].type != "question":
            frame = self.state.stack[-1]
            self.error("not_waiting", f"{frame.flow}: {frame.node!r} is not a question")
            return None
        return found

    def _answer(self, flow: Flow, node: Node) -> None:
        kind = NODE_KINDS[node.type]
        if kind.resume(self, flow, node):
            return
        target = commands.intent_flow(self.config, self.inp) if self.onboarded() else None
        if target is not None:
            self.enter_flow(target, None, returns=False)
        else:
            kind.retry(self, flow, node)

    def _start_idle(self) -> None:
        target = commands.intent_flow(self.config, self.inp) if self._known() else None
        if target is None:
            target = self.config.main_flow if self._known() else self.config.onboarding_flow
        self.enter_flow(target, None, returns=False)

    def _run_command(self, command: GlobalCommand, interrupted: bool) -> None:
        if not (command.before_onboarding or self._known()):
            self.enter_flow(self.config.onboarding_flow, None, returns=False)
            return
        push = command.mode == "push" and interrupted and len(self.state.stack) < MAX_STACK
        self.enter_flow(command.flow, self._top_node_id(), returns=push)

    def _top_node_id(self) -> str | None:
        return self.state.stack[-1].node if self.state.stack else None

    def _current_node(self) -> tuple[Flow, Node] | None:
        frame = self.state.stack[-1]
        flow = self.top_flow()
        if flow is None:
            flow = self.library.latest(frame.flow)
            self.error("flow_version_missing", f"{frame.flow}@{frame.rev}: using latest")
            if flow is None:
                return None
            frame.rev = flow.rev
        node = flow.nodes.get(frame.node or "")
        return (flow, node) if node is not None else None

    def advance(self) -> None:
        """Run nodes until one waits for the contact or no flow is left."""
        for _ in range(MAX_NODES_PER_TURN):
            if self.state.waiting or not self.state.stack:
                return
            self._run_one()
        self.error("loop_limit", f"more than {MAX_NODES_PER_TURN} nodes in one turn")
        self.end_all()

    def _run_one(self) -> None:
        frame = self.state.stack[-1]
        if frame.node is None:
            self.state.stack.pop()
            self.emit(FlowEnded(frame.flow))
            if frame.flow == self.config.onboarding_flow and self.consent() != "current":
                self.end_all()  # declined: what consent was slotted in front of must not resume
            return
        found = self._current_node()
        if found is None:
            self.error("unknown_node", f"{frame.flow}: no node {frame.node!r}")
            frame.node = None
            return
        flow, node = found
        kind = NODE_KINDS.get(node.type)
        if kind is None:
            self.error("unknown_kind", f"{flow.id}/{node.id}: {node.type!r}")
            frame.node = None
            return
        kind.enter(self, flow, node)


def step(
    library: Library, session: Mapping[str, Any] | None, fields: Mapping[str, str], inp: FlowInput
) -> StepResult:
    state = decode(session)
    bad = state is None
    run = Run(library, state or State(), fields, inp)
    if bad:
        run.error("bad_session", "session state was malformed; starting again")
    run.handle()
    return StepResult(run.state.to_json(), tuple(run.events))
