"""Placeholder risk screen (foundation): a handful of English phrases.

Replaced by the full multilingual screen; the public API stays.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from safeguarding.verdict import NO_RISK, Match, Severity, Verdict

_RULES = (
    (re.compile(r"\b(kill myself|want to die|suicide)\b", re.I), "suicide", Severity.HIGH),
    (re.compile(r"\b(hits me|abused|touches me)\b", re.I), "physical_abuse", Severity.HIGH),
)


class RiskScreen:
    @classmethod
    def load(cls, lexicon_dir: Path | None = None) -> RiskScreen:
        return cls()

    def screen(self, text: str, lang: str | None = None, history: Sequence[str] = ()) -> Verdict:
        matches = [
            Match(m.start(), m.end(), f"placeholder.{cat}", cat, sev)
            for rx, cat, sev in _RULES
            for m in rx.finditer(text)
        ]
        if not matches:
            return NO_RISK
        return Verdict(
            max(m.severity for m in matches),
            tuple(dict.fromkeys(m.category for m in matches)),
            tuple(matches),
        )
