from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from nlu.cli import nlu_group


def _run(args: list[str], stdin: str = "") -> tuple[int, str]:
    result = CliRunner().invoke(nlu_group, args, input=stdin)
    return result.exit_code, result.output


def test_parse_output_shape_and_malformed_lines(tiny_data: Path, tmp_path: Path) -> None:
    stdin = '{"text": "hello there", "id": 7}\nnot json\n[1]\n\n{"text": "bedtime", "lang": "en"}\n'
    code, out = _run(["parse", "--data-dir", str(tiny_data), "--cache-dir", str(tmp_path)], stdin)
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 4
    assert rows[0]["id"] == 7 and rows[0]["text"] == "hello there"
    assert set(rows[0]) == {"text", "intent", "intent_ranking", "entities", "id"}
    assert set(rows[0]["intent"]) == {"name", "confidence"}
    assert "error" in rows[1] and "error" in rows[2]
    assert "id" not in rows[3] and rows[3]["text"] == "bedtime"


def test_train_then_cached(tiny_data: Path, tmp_path: Path) -> None:
    args = ["train", "--data-dir", str(tiny_data), "--cache-dir", str(tmp_path)]
    assert "trained in" in _run(args)[1]
    assert "loaded from cache" in _run(args)[1]


def test_check_exit_codes(tiny_data: Path) -> None:
    code, out = _run(["check", "--data-dir", str(tiny_data)])
    assert code == 1 and "required intent" in out  # tiny data lacks most intents
    (tiny_data / "en" / "bad.yml").write_text("nlu: [\n", encoding="utf-8")
    code, out = _run(["check", "--data-dir", str(tiny_data)])
    assert code == 1 and "bad.yml:" in out


def test_export_rasa(tiny_data: Path, tmp_path: Path) -> None:
    code, _ = _run(["export-rasa", "--data-dir", str(tiny_data), str(tmp_path / "rasa")])
    assert code == 0
    config = yaml.safe_load((tmp_path / "rasa" / "config.yml").read_text())
    names = [c["name"] for c in config["pipeline"]]
    assert names[0] == "WhitespaceTokenizer" and "DIETClassifier" in names
    fallback = config["pipeline"][-1]
    assert fallback == {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.1}
    domain = yaml.safe_load((tmp_path / "rasa" / "domain.yml").read_text())
    assert "greet" in domain["intents"] and domain["entities"] == ["child_age", "platform"]
    nlu = (tmp_path / "rasa" / "data" / "nlu.yml").read_text()
    assert '[insta]{"entity": "platform", "value": "instagram"}' in nlu
    assert "[4](child_age)" in nlu


def test_test_command_writes_rasa_reports(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    args = ["test", "--data-dir", str(tiny_data), "--cache-dir", str(tmp_path), "--folds", "2"]
    code, text = _run([*args, "--out", str(out)])
    assert code == 0, text
    report = json.loads((out / "intent_report.json").read_text())
    assert {"accuracy", "macro avg", "weighted avg"} <= set(report)
    assert "confused_with" in report["greet"]
    assert isinstance(json.loads((out / "intent_errors.json").read_text()), list)
    assert "accuracy (all)" in text
