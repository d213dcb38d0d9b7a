"""The registry of node kinds, keyed by the ``type`` string used in flow YAML.

Adding a kind means one class, one entry here and one schema in ``flows/schema.json``
(a test keeps the two in step).
"""

from __future__ import annotations

from flows.nodes.actions import EnterFlow, Handoff, RecordConsent, Schedule, SetFieldNode
from flows.nodes.base import NodeKind, RunContext
from flows.nodes.messages import End, Erase, OptOutNode, Send
from flows.nodes.question import Question
from flows.nodes.router import Router

NODE_KINDS: dict[str, NodeKind] = {
    "send": Send(),
    "question": Question(),
    "router": Router(),
    "set_field": SetFieldNode(),
    "record_consent": RecordConsent(),
    "enter_flow": EnterFlow(),
    "handoff": Handoff(),
    "schedule": Schedule(),
    "end": End(),
    "opt_out": OptOutNode(),
    "erase": Erase(),
}

__all__ = ["NODE_KINDS", "NodeKind", "RunContext"]
