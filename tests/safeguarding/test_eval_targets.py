"""The whole evaluation set must meet the release targets (so a regression fails CI).

Targets: recall >= 0.97 overall and >= 0.93 per language (severity >= medium with an
expected category found), critical cases rated >= high >= 0.99, canonical 100%, false
flags on benign <= 3%.
"""

from __future__ import annotations

import pytest

from safeguarding.evaluate import Report, default_case_files, evaluate, format_report, load_cases
from safeguarding.screen import RiskScreen


@pytest.fixture(scope="module")
def report(screen: RiskScreen) -> Report:
    files = default_case_files()
    assert files, "no evaluation files found"
    cases = load_cases(files)
    assert len(cases) >= 400
    return evaluate(screen, cases)


def test_overall_targets(report: Report) -> None:
    detail = format_report(report)
    assert report.recall.value >= 0.97, detail
    assert report.critical_high.value >= 0.99, detail
    assert report.false_flags.value <= 0.03, detail
    assert report.canonical_ok, detail


def test_per_language_recall(report: Report) -> None:
    low = {k: v.value for k, v in report.recall_by_lang.items() if v.value < 0.93}
    assert not low, format_report(report)


def test_case_files_are_well_formed() -> None:
    for path in default_case_files():
        cases = load_cases([path])
        lang = path.stem.removeprefix("cases-")
        assert all(c.lang == lang for c in cases), path
        ids = [c.id for c in cases]
        assert len(ids) == len(set(ids)), path
        for case in cases:
            if case.risk:
                assert case.categories, case.id
