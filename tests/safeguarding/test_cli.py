"""CLI: JSON lines in, one verdict line out per input in order; bad lines report errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from safeguarding.cli import lexicons_group, screen_command
from safeguarding.screen import RiskScreen


def test_screen_outputs_one_line_per_input_in_order() -> None:
    lines = [
        {"id": "a", "text": "I want to die"},
        {"id": "b", "text": "what's for dinner?"},
        {"id": "c", "text": "to die", "history": ["i want"]},
        {"text": "my stepdad hits me", "lang": "en"},
    ]
    data = "\n".join(json.dumps(x) for x in lines) + "\n"
    result = CliRunner().invoke(screen_command, [], input=data)
    assert result.exit_code == 0, result.output
    out = [json.loads(x) for x in result.output.splitlines()]
    assert [o["id"] for o in out] == ["a", "b", "c", None]
    assert out[0]["severity"] == "high" and out[0]["categories"] == ["suicide"]
    assert out[1]["severity"] == "none" and out[1]["matches"] == []
    assert out[2]["severity"] == "high"
    match = out[0]["matches"][0]
    assert set(match) == {"start", "end", "rule"}
    assert "I want to die"[match["start"]:match["end"]] == "want to die"


def test_malformed_lines_report_and_continue() -> None:
    data = "\n".join([
        "{not json",
        json.dumps({"id": 7, "text": 5}),
        json.dumps([1, 2]),
        json.dumps({"id": 8, "text": "hi", "history": "nope"}),
        json.dumps({"id": 9, "text": "I was raped"}),
    ])
    result = CliRunner().invoke(screen_command, [], input=data)
    assert result.exit_code == 0
    out = [json.loads(x) for x in result.output.splitlines()]
    assert len(out) == 5
    assert "error" in out[0] and out[0]["id"] is None
    assert out[1]["id"] == 7 and "error" in out[1]
    assert "error" in out[2]
    assert out[3]["id"] == 8 and "error" in out[3]
    assert out[4]["id"] == 9 and out[4]["severity"] == "high"


def _case(i: int, text: str, expect: str, cats: list[str], tags: list[str]) -> str:
    return json.dumps({"id": f"t{i}", "lang": "en", "text": text, "expect": expect,
                       "categories": cats, "tags": tags})


def test_eval_reports_and_fails_on_canonical_miss(tmp_path: Path) -> None:
    good = tmp_path / "cases-good.jsonl"
    good.write_text("\n".join([
        _case(1, "I was raped", "high", ["sexual_abuse"], ["canonical"]),
        _case(2, "how do I set up parental controls?", "none", [], ["plain"]),
    ]) + "\n")
    result = CliRunner().invoke(screen_command, ["--eval", str(good)])
    assert result.exit_code == 0, result.output
    assert "recall" in result.output and "Wilson" in result.output
    assert "false flags" in result.output and "canonical pass rate: 1.000" in result.output
    bad = tmp_path / "cases-bad.jsonl"
    bad.write_text(_case(3, "the weather is nice", "high", ["suicide"], ["canonical"]) + "\n")
    result = CliRunner().invoke(screen_command, ["--eval", str(bad)])
    assert result.exit_code == 1
    assert "missed: t3" in result.output


def test_lexicons_check_ok_and_failing(tmp_path: Path) -> None:
    ok = CliRunner().invoke(lexicons_group, ["check"])
    assert ok.exit_code == 0, ok.output
    broken = tmp_path / "xx.yml"
    broken.write_text("language: xx\nname: X\nentries:\n  - id: xx.a.b\n    category: nope\n"
                      "    severity: high\n    patterns: ['a b']\n")
    result = CliRunner().invoke(lexicons_group, ["check", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}:5: unknown category 'nope'" in result.output


def test_eval_lexicon_only_skips_the_learned_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lexicon authors see what their patterns alone catch: no model is trained or loaded."""
    import safeguarding.screen as screen_module

    def no_model(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the learned layer was loaded")

    monkeypatch.setattr(screen_module, "load_or_train", no_model)
    cases = tmp_path / "cases-x.jsonl"
    cases.write_text(_case(1, "I was raped", "high", ["sexual_abuse"], ["canonical"]) + "\n")
    result = CliRunner().invoke(screen_command, ["--lexicon-only", "--eval", str(cases)])
    assert result.exit_code == 0, result.output
    assert "canonical pass rate: 1.000" in result.output
    failed = CliRunner().invoke(screen_command, ["--eval", str(cases)])
    assert isinstance(failed.exception, AssertionError)


def test_model_report_prints_the_learned_layers_calibration(screen: RiskScreen,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """After a lexicon edit retrains the model, authors can see what the retraining chose."""
    lexicon_only = copy.copy(screen)
    lexicon_only.model = None
    monkeypatch.setattr(RiskScreen, "load", classmethod(
        lambda cls, lexicon_dir=None, model_cache=None, use_model=True: screen if use_model else lexicon_only))
    result = CliRunner().invoke(screen_command, ["--model-report"])
    assert result.exit_code == 0, result.output
    assert screen.model is not None
    assert f"thresholds: T={screen.model.threshold:.2f} T_high={screen.model.threshold_high:.2f}" in result.output
    assert "held-out false flags the model adds, benign cases:" in result.output
    refused = CliRunner().invoke(screen_command, ["--model-report", "--lexicon-only"])
    assert refused.exit_code == 2 and "needs the learned layer" in refused.output
