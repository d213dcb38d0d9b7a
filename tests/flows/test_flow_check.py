"""The checker finds each kind of problem and points at the right file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import CONFIG, flow_yaml, write_content

from flows.check import check_dir
from flows.cli import flows_group
from flows.errors import Problem
from flows.migrations import MigrationError, migrate

GOOD = """\
- {id: a, type: send, text: {en: "Hi"}}
- {id: b, type: end}
"""

CASES: list[tuple[str, str, int, str]] = [
    ("syntax", "spec_version: 2\nflow: x\nnodes: [\n  {id: a\n", 5, "YAML syntax error"),
    ("schema", flow_yaml("x", "- {id: a, type: send}\n"), 7, "'text' is a required property"),
    ("unknown_kind", flow_yaml("x", "- {id: a, type: send, text: Hi}\n- {id: b, type: dance}\n"),
     8, "unknown node kind 'dance'"),
    ("dangling_goto", flow_yaml("x", "- {id: a, type: send, text: Hi, next: nowhere}\n"), 7,
     "goes to unknown node 'nowhere'"),
    ("dangling_router", flow_yaml("x", """\
- id: r
  type: router
  on: intent
  cases:
    - {is: x, next: a}
  default: missing
- {id: a, type: end}
"""), 12, "goes to unknown node 'missing'"),
    ("unknown_flow", flow_yaml("x", "- {id: a, type: enter_flow, flow: ghost}\n"), 7,
     "enters unknown flow 'ghost'"),
    ("unreachable", flow_yaml("x", "- {id: a, type: end}\n- {id: lost, type: send, text: Hi}\n"),
     8, "lost: unreachable node"),
    ("translation", flow_yaml("x", "- {id: a, type: end, text: {en: Hi}}\n"), 7,
     "x/a/text: missing translation: ru"),
    ("button_title", flow_yaml("x", """\
- id: q
  type: question
  text: Pick
  buttons:
    - {id: a, title: "This title is far too long"}
"""), 11, "button title 'This title is far too long' is over 20 characters"),
    ("row_title", flow_yaml("x", """\
- id: q
  type: question
  text: Pick
  list:
    - {id: a, title: "A list row title that is too long"}
"""), 11, "list row title"),
    ("payload", flow_yaml("x", f"""\
- id: {"q" * 32}
  type: question
  text: Pick
  buttons:
    - {{id: {"b" * 32}, title: B}}
"""), 11, "is over 64 bytes"),
    ("too_many_buttons", flow_yaml("x", """\
- id: q
  type: question
  text: Pick
  buttons:
    - {id: a, title: A}
    - {id: b, title: B}
    - {id: c, title: C}
    - {id: d, title: D}
"""), 11, "4 buttons (use a list instead): at most 3 allowed"),
    ("too_many_rows", flow_yaml("x", "- id: q\n  type: question\n  text: Pick\n  list:\n"
                                + "".join(f"    - {{id: r{i}, title: R}}\n" for i in range(11))),
     11, "11 list rows: at most 10 allowed"),
    ("duplicate_node", flow_yaml("x", "- {id: a, type: send, text: Hi}\n- {id: a, type: end}\n"),
     8, "duplicate node id 'a'"),
    ("bad_regex", flow_yaml("x", "- {id: q, type: question, text: Q, validate: "
                                 "{kind: regex, pattern: '(['}}\n"), 7, "invalid regex"),
]


def problems_for(tmp_path: Path, name: str, text: str) -> list[Problem]:
    root = write_content(tmp_path / name, {"x.yml": text})
    _, problems = check_dir(root, ("en", "ru"), "error")
    return [p for p in problems if p.file.endswith("x.yml")]


@pytest.mark.parametrize(("name", "text", "line", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_problem_kind(tmp_path: Path, name: str, text: str, line: int, message: str) -> None:
    found = problems_for(tmp_path, name, text)
    assert any(p.line == line and message in p.message for p in found), found


def test_clean_flow_has_no_problems(tmp_path: Path) -> None:
    root = write_content(tmp_path / "ok", {"x.yml": flow_yaml("x", GOOD)})
    _, problems = check_dir(root, ("en",), "error")
    assert problems == []


def test_yes_no_on_stay_words(tmp_path: Path) -> None:
    text = flow_yaml("x", """\
- id: q
  type: question
  text: Q
  buttons:
    - {id: yes, title: {en: "Yes", ru: "Да"}}
    - {id: no, title: {en: "No", ru: "Нет"}}
- id: r
  type: router
  on: answer
  cases:
    - {is: yes, next: e}
  default: e
- {id: e, type: end}
""")
    assert problems_for(tmp_path, "yes", text) == []


def test_cli_exit_codes_and_format(tmp_path: Path) -> None:
    bad = write_content(tmp_path / "bad", {"x.yml": flow_yaml("x", "- {id: a, type: dance}\n")})
    result = CliRunner().invoke(flows_group, ["check", str(bad), "--langs", "en"])
    assert result.exit_code == 1
    assert f"{bad / 'x.yml'}:7: unknown node kind 'dance'" in result.output
    good = write_content(tmp_path / "good", {"x.yml": flow_yaml("x", GOOD)})
    ok = CliRunner().invoke(flows_group, ["check", str(good), "--langs", "en"])
    assert ok.exit_code == 0, ok.output


def test_missing_translation_is_warning_outside_shipped_content(tmp_path: Path) -> None:
    root = write_content(tmp_path / "w", {"x.yml": flow_yaml("x", GOOD)})
    result = CliRunner().invoke(flows_group, ["check", str(root)])
    assert result.exit_code == 0
    assert "warning: x/a/text: missing translation" in result.output


def test_shipped_content_has_no_structural_errors() -> None:
    _, problems = check_dir(Path(__file__).resolve().parents[2] / "flows" / "content",
                            ("en",), "error")
    assert problems == []


def test_registry_and_schema_agree() -> None:
    from flows.loader import kind_schemas
    from flows.nodes import NODE_KINDS

    assert set(NODE_KINDS) == set(kind_schemas())


def test_migration_v1_renames_kind_and_title(tmp_path: Path) -> None:
    v1 = {"spec_version": 1, "flow": "x", "title": "Old", "nodes": [{"id": "a", "kind": "end"}]}
    v2 = migrate(v1)
    assert v2["spec_version"] == 2 and v2["name"] == "Old" and "title" not in v2
    assert v2["nodes"] == [{"id": "a", "type": "end"}]
    old_file = "spec_version: 1\nflow: x\nversion: 1\ndefault_lang: en\ntitle: Old\nnodes:\n" \
               "  - {id: a, kind: end}\n"
    root = write_content(tmp_path / "m", {"x.yml": old_file})
    _, problems = check_dir(root, ("en",), "error")
    assert problems == []


def test_migration_rejects_future_and_unknown_versions() -> None:
    with pytest.raises(MigrationError):
        migrate({"spec_version": 99})
    with pytest.raises(MigrationError):
        migrate({"spec_version": 0})


def config_with(line: str) -> str:
    """The test config with ``line`` added as line 8, just after ``onboarded_fields``."""
    lines = CONFIG.splitlines(keepends=True)
    assert lines[6].startswith("onboarded_fields:")
    return "".join(lines[:7] + [line + "\n"] + lines[7:])


RECORDS = flow_yaml("start", "- {id: agree, type: record_consent}\n- {id: e, type: end}\n")


@pytest.mark.parametrize(("value", "message"), [
    ("two", "'two' is not of type 'integer'"),
    ('"2"', "'2' is not of type 'integer'"),
    ("0", "0 is less than the minimum of 1"),
    ("1.5", "1.5 is not of type 'integer'"),
])
def test_bad_consent_version_is_pinned_to_its_line(tmp_path: Path, value: str, message: str) -> None:
    root = write_content(tmp_path / "c", {"start.yml": RECORDS},
                         config_with(f"consent_version: {value}"))
    _, problems = check_dir(root, ("en",), "error")
    on_line = [p for p in problems if p.file.endswith("_config.yml") and p.line == 8]
    assert [p.message for p in on_line] == [f"schema: consent_version: {message}"], problems
    assert all(p.severity == "error" for p in problems)


def test_consent_version_without_a_record_consent_step(tmp_path: Path) -> None:
    root = write_content(tmp_path / "c", {}, config_with("consent_version: 2"))
    _, problems = check_dir(root, ("en",), "error")
    assert [(Path(p.file).name, p.line) for p in problems] == [("_config.yml", 8)], problems
    assert "flow 'start' has no record_consent step" in problems[0].message


def test_record_consent_without_consent_version(tmp_path: Path) -> None:
    root = write_content(tmp_path / "c", {"start.yml": RECORDS})
    _, problems = check_dir(root, ("en",), "error")
    assert [(Path(p.file).name, p.line) for p in problems] == [("start.yml", 7)], problems
    assert "agree: record_consent needs consent_version" in problems[0].message


def test_consent_version_with_its_step_is_clean(tmp_path: Path) -> None:
    root = write_content(tmp_path / "c", {"start.yml": RECORDS}, config_with("consent_version: 2"))
    _, problems = check_dir(root, ("en",), "error")
    assert problems == []
    result = CliRunner().invoke(flows_group, ["check", str(root), "--langs", "en"])
    assert result.exit_code == 0, result.output
