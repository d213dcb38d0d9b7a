"""The whole evaluation set must meet the release targets (so a regression fails CI).

Targets: recall >= 0.97 overall and >= 0.93 per language (severity >= medium with an
expected category found), critical cases rated >= high >= 0.99, canonical 100%, false
flags on benign <= 3%.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safeguarding.evaluate import DEFAULT_EVAL_DIR, Report, default_case_files, evaluate, format_report, load_cases
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
    """Every set in eval/ (regression, dev, training and held-out): known fields, known
    categories, one language per file, unique ids, a category on every risk case."""
    paths = sorted(DEFAULT_EVAL_DIR.glob("*.jsonl"))
    assert len(paths) > len(default_case_files())
    for path in paths:
        cases = load_cases([path])
        lang = path.stem.rsplit("-", 1)[1]
        assert all(c.lang == lang for c in cases), path
        ids = [c.id for c in cases]
        assert len(ids) == len(set(ids)), path
        for case in cases:
            if case.risk:
                assert case.categories, case.id


def test_a_case_with_an_unknown_category_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "dev9-en.jsonl"
    good = {"id": "a", "lang": "en", "text": "hi", "expect": "none", "categories": []}
    bad.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "b", "expect": "high",
                                                        "categories": ["sadness"]}) + "\n")
    with pytest.raises(ValueError, match=r"dev9-en.jsonl:2: bad case: unknown categories \['sadness'\]"):
        load_cases([bad])
