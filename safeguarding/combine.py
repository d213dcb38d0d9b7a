"""Severity rules that need more than one piece of evidence.

Why: grooming and sextortion are conversation-level (PAN12, eSPD): a secrecy request is
weak alone but high with a private app or a photo request; a threat plus a deadline is a
crisis. Likewise suicidal ideation plus a timeframe or means is imminent risk (Crisis Text
Line). These rules only ever raise severity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from safeguarding.verdict import Severity


@dataclass(frozen=True, slots=True)
class Evidence:
    """A lexicon hit in the context window, before it becomes a Match."""

    start: int  # offsets into the current message when ``current`` is true
    end: int
    rule: str
    category: str
    severity: Severity
    signal: str | None
    current: bool  # touches the current message


# (signals needed, category, severity)
SIGNAL_COMBOS: tuple[tuple[frozenset[str], str, Severity], ...] = tuple(
    (frozenset(sig), cat, sev)
    for sig, cat, sev in (
        ({"secrecy", "private_app"}, "grooming", Severity.HIGH),
        ({"photo_request", "secrecy"}, "grooming", Severity.HIGH),
        ({"photo_request", "age_gap"}, "grooming", Severity.HIGH),
        ({"photo_request", "private_app"}, "grooming", Severity.HIGH),
        ({"photo_request", "gifts"}, "grooming", Severity.HIGH),
        ({"meeting_request", "secrecy"}, "grooming", Severity.HIGH),
        ({"meeting_request", "age_gap"}, "grooming", Severity.HIGH),
        ({"meeting_request", "gifts"}, "grooming", Severity.HIGH),
        ({"gifts", "secrecy"}, "grooming", Severity.HIGH),
        ({"age_gap", "secrecy"}, "grooming", Severity.HIGH),
        ({"threat", "photo_request"}, "sextortion", Severity.HIGH),
        ({"threat", "deadline"}, "sextortion", Severity.CRITICAL),
        ({"threat", "money"}, "sextortion", Severity.HIGH),
        ({"threat", "timeframe"}, "sextortion", Severity.CRITICAL),
        ({"photo_request", "money"}, "sextortion", Severity.HIGH),
        ({"farewell", "means"}, "suicide", Severity.CRITICAL),
        ({"farewell", "timeframe"}, "suicide", Severity.HIGH),
    )
)
# A high hit in these categories plus the signal is a crisis (danger now).
ESCALATE_WITH: dict[str, frozenset[str]] = {
    "timeframe": frozenset(
        {
            "suicide",
            "self_harm",
            "physical_abuse",
            "sexual_abuse",
            "domestic_violence",
            "violence_to_others",
            "runaway",
            "trafficking",
            "immediate_danger",
            "exploitation",
        }
    ),
    "means": frozenset({"suicide"}),
    "deadline": frozenset({"sextortion"}),
    # An attack under way while the child hides from it is danger now (P0).
    "hiding": frozenset({"domestic_violence", "physical_abuse", "sexual_abuse", "immediate_danger"}),
}


# A concern (medium: running-away thoughts, negated ideation...) with a sign that it is
# happening now, or with the means at hand, is a disclosure to act on (high).
URGENT = ("timeframe", "hiding", "means")


def combine(evidence: Sequence[Evidence]) -> list[Evidence]:
    """Extra evidence produced by combination rules (at least one part in the current turn)."""
    out: list[Evidence] = []
    by_signal: dict[str, list[Evidence]] = {}
    for ev in evidence:
        if ev.signal:
            by_signal.setdefault(ev.signal, []).append(ev)
    for needed, category, severity in SIGNAL_COMBOS:
        if not needed.issubset(by_signal):
            continue
        parts = [ev for sig in sorted(needed) for ev in by_signal[sig]]
        anchor = next((ev for ev in reversed(parts) if ev.current), None)
        if anchor is None:
            continue
        name = "+".join(sorted(needed))
        out.append(
            Evidence(anchor.start, anchor.end, f"combo:{category}.{name}", category, severity,
                     None, True)
        )
    for signal, categories in ESCALATE_WITH.items():
        cues = by_signal.get(signal)
        if not cues:
            continue
        for ev in evidence:
            if ev.category not in categories or ev.severity < Severity.HIGH or ev.signal:
                continue
            if ev.severity >= Severity.CRITICAL:
                continue
            cue = next((c for c in reversed(cues) if c.current), None)
            anchor = ev if ev.current else cue
            if anchor is None:
                continue
            out.append(
                Evidence(anchor.start, anchor.end, f"combo:{ev.category}+{signal}", ev.category,
                         Severity.CRITICAL, None, True)
            )
            break
    for signal in URGENT:
        cues = by_signal.get(signal)
        cue = next((c for c in reversed(cues) if c.current), None) if cues else None
        if cue is None:
            continue
        raised = {o.category for o in out}
        for ev in evidence:
            if ev.signal or ev.severity != Severity.MEDIUM or ev.category not in ESCALATE_WITH[signal]:
                continue
            if ev.category in raised:  # already made critical or high by a stronger rule
                continue
            out.append(Evidence(cue.start, cue.end, f"combo:{ev.category}+{signal}", ev.category,
                                Severity.HIGH, None, True))
            break
    return out
