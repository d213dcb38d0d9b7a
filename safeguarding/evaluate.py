"""Score the screen on labelled cases: recall, critical handling, false flags, canonical set.

Why: targets pass only on their Wilson 95% bound (reference §6.3), every language and
category gets its own figure (a suicide-tuned screen can still miss abuse, BBC 2018), and
the publicly failed canonical statements are release-blocking.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safeguarding.screen import RiskScreen
from safeguarding.verdict import CATEGORIES, Severity, Verdict

DEFAULT_EVAL_DIR = Path(__file__).resolve().parent / "eval"


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    lang: str
    text: str
    expect: Severity
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    history: tuple[str, ...] = ()

    @property
    def risk(self) -> bool:
        return self.expect >= Severity.MEDIUM


@dataclass(frozen=True, slots=True)
class Rate:
    hits: int
    total: int

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else 1.0

    def wilson(self, upper: bool = False) -> float:
        return wilson(self.hits, self.total, upper)

    def describe(self, upper: bool = False) -> str:
        side = "upper" if upper else "lower"
        return (f"{self.value:.3f} ({self.hits}/{self.total}; Wilson 95% {side} "
                f"{self.wilson(upper):.3f})")


@dataclass(slots=True)
class Report:
    recall: Rate = Rate(0, 0)
    recall_by_lang: dict[str, Rate] = field(default_factory=dict)
    recall_by_category: dict[str, Rate] = field(default_factory=dict)
    critical_high: Rate = Rate(0, 0)
    # Reaches a person at all (>= medium), whatever category: what safety hinges on.
    escalated: Rate = Rate(0, 0)
    escalated_by_lang: dict[str, Rate] = field(default_factory=dict)
    false_flags: Rate = Rate(0, 0)
    false_flags_by_lang: dict[str, Rate] = field(default_factory=dict)
    # Benign messages written to look like risk (idioms, cooking, sport) versus ordinary ones.
    false_flags_traps: Rate = Rate(0, 0)
    canonical: Rate = Rate(0, 0)
    misses: list[tuple[Case, Verdict, str]] = field(default_factory=list)

    @property
    def canonical_ok(self) -> bool:
        return self.canonical.hits == self.canonical.total


def wilson(hits: int, total: int, upper: bool = False, z: float = 1.96) -> float:
    """Wilson score interval bound for a proportion (lower by default)."""
    if total == 0:
        return 0.0 if not upper else 1.0
    p = hits / total
    denom = 1 + z * z / total
    centre = p + z * z / (2 * total)
    margin = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return (centre + margin) / denom if upper else (centre - margin) / denom


def parse_case(obj: Any, where: str) -> Case:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: case must be an object")
    try:
        history = obj.get("history") or []
        unknown = sorted(set(obj.get("categories") or ()) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {unknown}")
        return Case(
            id=str(obj["id"]),
            lang=str(obj["lang"]),
            text=str(obj["text"]),
            expect=Severity.parse(str(obj["expect"])),
            categories=tuple(str(c) for c in obj.get("categories") or ()),
            tags=tuple(str(t) for t in obj.get("tags") or ()),
            history=tuple(str(h) for h in history),
        )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{where}: bad case: {exc}") from exc


def load_cases(paths: Iterable[Path]) -> list[Case]:
    cases: list[Case] = []
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                cases.append(parse_case(json.loads(line), f"{path}:{n}"))
    return cases


def default_case_files(directory: Path | None = None) -> list[Path]:
    return sorted((directory or DEFAULT_EVAL_DIR).glob("cases-*.jsonl"))


def _caught(case: Case, verdict: Verdict) -> bool:
    if verdict.severity < Severity.MEDIUM:
        return False
    return not case.categories or bool(set(case.categories) & set(verdict.categories))


def evaluate(screen: RiskScreen, cases: Sequence[Case]) -> Report:
    report = Report()
    recall = [0, 0]
    escalated = [0, 0]
    crit = [0, 0]
    benign = [0, 0]
    canon = [0, 0]
    by_lang: dict[str, list[int]] = {}
    by_cat: dict[str, list[int]] = {}
    esc_lang: dict[str, list[int]] = {}
    ff_lang: dict[str, list[int]] = {}
    traps = [0, 0]
    for case in cases:
        verdict = screen.screen(case.text, case.lang, case.history)
        if case.risk:
            ok = _caught(case, verdict)
            recall[0] += ok
            recall[1] += 1
            escalated[0] += verdict.escalates
            escalated[1] += 1
            _count(esc_lang, case.lang, verdict.escalates)
            _count(by_lang, case.lang, ok)
            if case.categories:
                _count(by_cat, case.categories[0], ok)
            if case.expect == Severity.CRITICAL:
                crit[0] += verdict.severity >= Severity.HIGH
                crit[1] += 1
            if not ok:
                report.misses.append((case, verdict, "missed"))
            passed = ok and (case.expect < Severity.HIGH or verdict.severity >= Severity.HIGH)
        else:
            flagged = verdict.severity >= Severity.MEDIUM
            benign[0] += flagged
            benign[1] += 1
            _count(ff_lang, case.lang, flagged)
            if "benign_trap" in case.tags:
                traps[0] += flagged
                traps[1] += 1
            if flagged:
                report.misses.append((case, verdict, "false flag"))
            passed = ok = not flagged
        if "canonical" in case.tags:
            canon[0] += passed
            canon[1] += 1
            if not passed and ok and case.risk:
                report.misses.append((case, verdict, "canonical below high"))
    report.recall = Rate(*recall)
    report.critical_high = Rate(*crit)
    report.escalated = Rate(*escalated)
    report.false_flags = Rate(*benign)
    report.false_flags_traps = Rate(*traps)
    report.escalated_by_lang = {k: Rate(*v) for k, v in sorted(esc_lang.items())}
    report.false_flags_by_lang = {k: Rate(*v) for k, v in sorted(ff_lang.items())}
    report.canonical = Rate(*canon)
    report.recall_by_lang = {k: Rate(*v) for k, v in sorted(by_lang.items())}
    report.recall_by_category = {k: Rate(*v) for k, v in sorted(by_cat.items())}
    return report


def _count(slots: dict[str, list[int]], key: str, hit: bool) -> None:
    slot = slots.setdefault(key, [0, 0])
    slot[0] += hit
    slot[1] += 1


def format_report(report: Report) -> str:
    lines = [f"recall (>= medium, category found): {report.recall.describe()}"]
    lines += [f"  recall[{k}]: {v.describe()}" for k, v in report.recall_by_lang.items()]
    lines += [f"  recall[{k}]: {v.describe()}" for k, v in report.recall_by_category.items()]
    lines.append(f"escalated to a person (>= medium, any category): {report.escalated.describe()}")
    lines += [f"  escalated[{k}]: {v.describe()}" for k, v in report.escalated_by_lang.items()]
    lines.append(f"critical rated >= high: {report.critical_high.describe()}")
    lines.append(f"false flags on benign (>= medium): {report.false_flags.describe(upper=True)}")
    if report.false_flags_traps.total:
        plain = Rate(report.false_flags.hits - report.false_flags_traps.hits,
                     report.false_flags.total - report.false_flags_traps.total)
        lines.append(f"  false flags on look-alikes (benign_trap): {report.false_flags_traps.describe(upper=True)}")
        lines.append(f"  false flags on other benign: {plain.describe(upper=True)}")
    lines += [f"  false flags[{k}]: {v.describe(upper=True)}" for k, v in report.false_flags_by_lang.items()]
    canon = report.canonical.describe() if report.canonical.total else "n/a (no canonical cases)"
    lines.append(f"canonical pass rate: {canon}")
    lines.append(f"misses: {len(report.misses)}")
    for case, verdict, why in report.misses:
        cats = ",".join(verdict.categories) or "-"
        lines.append(f"  {why}: {case.id} [{case.lang}] expect={case.expect.label} "
                     f"got={verdict.severity.label}/{cats}: {case.text}")
    return "\n".join(lines)
