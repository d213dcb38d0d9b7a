from __future__ import annotations

from pathlib import Path

from nlu.check import check_dir
from tests.nlu.conftest import write


def _messages(data: Path, **kw: object) -> list[str]:
    opts: dict[str, object] = {
        "required_languages": ("en",),
        "required_intents": ("greet",),
        "min_examples": 4,
    }
    opts.update(kw)
    return [str(i) for i in check_dir(data, **opts)]  # type: ignore[arg-type]


def test_clean_tiny_data_passes(tiny_data: Path) -> None:
    assert _messages(tiny_data) == []


def test_yaml_error(tiny_data: Path) -> None:
    write(tiny_data / "en" / "broken.yml", "nlu:\n- intent: greet\n  examples: [\n")
    assert any("broken.yml:" in m and "YAML error" in m for m in _messages(tiny_data))


def test_same_example_under_two_intents(tiny_data: Path) -> None:
    body = "nlu:\n- intent: parenting_sleep\n  examples: |\n    - Hi!\n"
    write(tiny_data / "en" / "more.yml", body)
    msgs = _messages(tiny_data)
    conflict = [m for m in msgs if "also" in m]
    assert len(conflict) == 1, msgs
    assert "more.yml:4" in conflict[0] and "nlu.yml:5" in conflict[0]
    assert "'greet'" in conflict[0] and "'parenting_sleep'" in conflict[0]


def test_too_few_examples_error_and_optional_warning(tiny_data: Path) -> None:
    write(tiny_data / "tr" / "nlu.yml", "nlu:\n- intent: greet\n  examples: |\n    - merhaba\n")
    msgs = _messages(tiny_data, min_examples=5)
    assert any("nlu.yml:5:" in m and "'greet' has 4 en" in m for m in msgs)
    assert any("warning:" in m and "'greet' has 1 tr" in m for m in msgs)
    errors = [i for i in check_dir(tiny_data, ("en",), ("greet",), 5) if i.level == "error"]
    assert not any("tr examples" in i.message for i in errors)


def test_unknown_entity(tiny_data: Path) -> None:
    body = "nlu:\n- intent: greet\n  examples: |\n    - hi [bob](name)\n"
    write(tiny_data / "en" / "x.yml", body)
    assert any("x.yml:4:" in m and "unknown entity 'name'" in m for m in _messages(tiny_data))


def test_missing_required_intent(tiny_data: Path) -> None:
    msgs = _messages(tiny_data, required_intents=("greet", "stop"))
    assert any("required intent 'stop' is missing" in m and ":1:" in m for m in msgs)


def test_missing_required_language(tiny_data: Path) -> None:
    msgs = _messages(tiny_data, required_languages=("en", "sr"))
    assert any("'greet' has 0 sr examples" in m for m in msgs)


def test_shipped_data_has_no_errors() -> None:
    data = Path(__file__).parents[2] / "nlu" / "data"
    errors = [str(i) for i in check_dir(data) if i.level == "error"]
    assert errors == []
