"""Placeholder flow engine (foundation): a greeting; replaced by the declarative engine."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from caseline.messages import Reply
from flows.events import FlowInput, SendReply, StepResult


class FlowEngine:
    @classmethod
    def load(cls, content_dir: Path | None = None) -> FlowEngine:
        return cls()

    def step(
        self, session: Mapping[str, Any] | None, fields: Mapping[str, str], inp: FlowInput
    ) -> StepResult:
        turns = int((session or {}).get("turns", 0)) + 1
        text = "Hello! I am Caseline." if inp.intent == "greet" else "I am here to help."
        return StepResult({"turns": turns}, (SendReply(Reply(text)),))
