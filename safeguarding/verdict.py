"""What the risk screen concludes about a message: severity, categories and evidence."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

CATEGORIES: tuple[str, ...] = (
    "suicide",
    "self_harm",
    "sexual_abuse",
    "physical_abuse",
    "neglect",
    "grooming",
    "sextortion",
    "bullying",
    "domestic_violence",
    "caregiver_risk",
    "runaway",
    "trafficking",
    "exploitation",
    "violence_to_others",
    "immediate_danger",
)


class Severity(IntEnum):
    """Ordered so that ``max()`` over matches gives the verdict's severity."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Severity:
        return cls[value.strip().upper()]


@dataclass(frozen=True, slots=True)
class Match:
    """One piece of evidence: a span of the screened text and the rule that fired."""

    start: int
    end: int
    rule: str
    category: str
    severity: Severity

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "rule": self.rule}


@dataclass(frozen=True, slots=True)
class Verdict:
    severity: Severity
    categories: tuple[str, ...] = ()
    matches: tuple[Match, ...] = ()

    @property
    def escalates(self) -> bool:
        """Medium and above goes to a person; that line is policy, not tuning."""
        return self.severity >= Severity.MEDIUM

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity.label,
            "categories": list(self.categories),
            "matches": [m.to_json() for m in self.matches],
        }


NO_RISK = Verdict(Severity.NONE)
