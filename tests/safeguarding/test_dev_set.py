"""The dev set (written blind, then used for tuning) must not regress.

The dev set (safeguarding/eval/dev-*.jsonl, 8 languages x 45 cases) was written independently
of the lexicons; it scored recall 0.366 before the concept-coverage work. Since it has been
tuned on, it is no longer a held-out measure: these floors only stop regressions (a fresh
blind set measures generalisation). Floors sit a little below the figures reached
(recall 1.000 overall and per language, critical >= high 1.000, false flags 0.000).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from safeguarding.evaluate import DEFAULT_EVAL_DIR, Report, evaluate, format_report, load_cases
from safeguarding.screen import RiskScreen

DEV_LANGS = ("en", "ru", "uk", "ro", "sr", "tr", "sq", "ar")


def dev_files() -> list[Path]:
    return [DEFAULT_EVAL_DIR / f"dev-{lang}.jsonl" for lang in DEV_LANGS]


@pytest.fixture(scope="module")
def report(screen: RiskScreen) -> Report:
    files = dev_files()
    missing = [str(p) for p in files if not p.exists()]
    assert not missing, f"dev files missing: {missing}"
    cases = load_cases(files)
    assert len(cases) >= 8 * 40
    return evaluate(screen, cases)


def test_dev_recall(report: Report) -> None:
    assert report.recall.value >= 0.97, format_report(report)


def test_dev_recall_per_language(report: Report) -> None:
    low = {k: v.value for k, v in report.recall_by_lang.items() if v.value < 0.93}
    assert not low, format_report(report)
    assert set(report.recall_by_lang) == set(DEV_LANGS)


def test_dev_critical_rated_high(report: Report) -> None:
    assert report.critical_high.value >= 0.97, format_report(report)


def test_dev_false_flags(report: Report) -> None:
    assert report.false_flags.value <= 0.03, format_report(report)


def test_no_canonical_prints_na(report: Report) -> None:
    assert report.canonical.total == 0
    assert "canonical pass rate: n/a" in format_report(report)


@pytest.fixture(scope="module")
def report2(screen: RiskScreen) -> Report:
    files = [DEFAULT_EVAL_DIR / f"dev2-{lang}.jsonl" for lang in DEV_LANGS]
    cases = load_cases(files)
    assert len(cases) == 8 * 50
    return evaluate(screen, cases)


def test_dev2_does_not_regress(report2: Report) -> None:
    """dev2 (ex-heldout2, tuned on in session 3): recall 0.996, escalation 1.000, false flags 0.019."""
    assert report2.recall.value >= 0.97, format_report(report2)
    assert report2.escalated.value >= 0.98, format_report(report2)
    assert report2.false_flags.value <= 0.03, format_report(report2)


# Sets tuned on in later sessions: their file prefixes and how many cases they hold.
TUNED = {
    "dev3+dev4": (("dev3", "dev4"), 2 * 8 * 60),
    "dev5+train": (("dev5", "train"), 8 * (60 + 150)),
    "dev6+train-b": (("dev6", "train-b"), 8 * (60 + 100)),
}


@pytest.mark.parametrize("name", TUNED)
def test_tuned_sets_do_not_regress(screen: RiskScreen, name: str) -> None:
    """dev3/dev4 (ex-heldout3/4, blind 0.378/0.344, tuned on in session 4) and dev5 (ex-heldout5)
    + train (tuned on in session 5), and dev6 (ex-heldout6) + train-b (tuned on in session 6)
    each scored recall, escalation and critical >= high 1.000
    and false flags 0.000 at the end of the session that tuned on them."""
    prefixes, size = TUNED[name]
    cases = load_cases([DEFAULT_EVAL_DIR / f"{p}-{lang}.jsonl" for p in prefixes for lang in DEV_LANGS])
    assert len(cases) == size
    report = evaluate(screen, cases)
    assert report.recall.value >= 0.97, format_report(report)
    assert report.escalated.value >= 0.98, format_report(report)
    assert report.critical_high.value >= 0.97, format_report(report)
    assert report.false_flags.value <= 0.03, format_report(report)
