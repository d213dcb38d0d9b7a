"""The evaluation report: the figures the issue's targets are read from."""

from __future__ import annotations

from typing import Any, cast

from safeguarding.evaluate import Case, evaluate, format_report
from safeguarding.screen import RiskScreen
from safeguarding.verdict import NO_RISK, Match, Severity, Verdict


class _Screen:
    """Flags any text containing "flag" as medium bullying; nothing else."""

    def screen(self, text: str, lang: str | None = None, history: Any = ()) -> Verdict:
        if "flag" in text:
            return Verdict(Severity.MEDIUM, ("bullying",), (Match(0, 4, "t", "bullying", Severity.MEDIUM),))
        return NO_RISK


def _case(i: int, lang: str, text: str, expect: Severity, tags: tuple[str, ...] = ()) -> Case:
    cats = ("bullying",) if expect >= Severity.MEDIUM else ()
    return Case(f"c{i}", lang, text, expect, cats, tags, ())


def test_escalation_and_false_flags_are_reported_per_language_and_for_look_alikes() -> None:
    cases = [
        _case(1, "en", "flag me", Severity.MEDIUM),
        _case(2, "en", "missed", Severity.MEDIUM),
        _case(3, "ro", "flag", Severity.MEDIUM),
        _case(4, "en", "flag trap", Severity.NONE, ("benign_trap",)),
        _case(5, "en", "quiet trap", Severity.NONE, ("benign_trap",)),
        _case(6, "ro", "plain", Severity.NONE),
    ]
    report = evaluate(cast(RiskScreen, _Screen()), cases)
    assert (report.escalated_by_lang["en"].hits, report.escalated_by_lang["en"].total) == (1, 2)
    assert (report.escalated_by_lang["ro"].hits, report.escalated_by_lang["ro"].total) == (1, 1)
    assert (report.false_flags_by_lang["en"].hits, report.false_flags_by_lang["en"].total) == (1, 2)
    assert (report.false_flags_by_lang["ro"].hits, report.false_flags_by_lang["ro"].total) == (0, 1)
    assert (report.false_flags_traps.hits, report.false_flags_traps.total) == (1, 2)
    text = format_report(report)
    assert "  escalated[en]: 0.500 (1/2;" in text
    assert "  false flags on look-alikes (benign_trap): 0.500 (1/2;" in text
    assert "  false flags on other benign: 0.000 (0/1;" in text
    assert "  false flags[ro]: 0.000 (0/1;" in text
