from __future__ import annotations

from pathlib import Path

import pytest

from nlu.rasa_data import DataError, load_dir, parse_annotated, read_file
from nlu.result import Entity
from tests.nlu.conftest import write


def test_annotations_are_stripped_with_offsets_on_clean_text() -> None:
    text, ents = parse_annotated(
        'my [4](child_age) yo is on [insta]{"entity": "platform", "value": "instagram"} a lot'
    )
    assert text == "my 4 yo is on insta a lot"
    assert ents == (Entity("child_age", "4", 3, 4), Entity("platform", "instagram", 14, 19))
    assert text[14:19] == "insta"


def test_deprecated_shorthand_value() -> None:
    text, ents = parse_annotated("on [ig](platform:instagram)")
    assert text == "on ig" and ents[0].value == "instagram"


def test_lines_synonyms_lookups_and_regexes(tiny_data: Path) -> None:
    data = load_dir(tiny_data)
    by_text = {e.text: e for e in data.examples}
    assert by_text["hi"].line == 5 and by_text["hi"].lang == "en"
    assert by_text["hey"].line == 8
    assert by_text["my 4 year old won't sleep"].line == 11
    assert by_text["hi"].file.endswith("en/nlu.yml")
    assert data.synonyms["tik tok"] == "tiktok"
    assert data.synonyms["insta"] == "instagram"  # from the annotation's value
    assert data.lookups[0].name == "platform" and "tiktok" in data.lookups[0].items
    assert data.regexes[0].name == "child_age"
    assert data.declared_entities == {"child_age", "platform"}


def test_yaml_error_has_file_and_line(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yml", 'version: "3.1"\nnlu:\n- intent: x\n  examples: [oops\n')
    with pytest.raises(DataError, match=r"bad\.yml:\d+: YAML error"):
        read_file(bad, "en")


def test_oos_eval_file_is_held_out(tmp_path: Path, tiny_data: Path) -> None:
    write(tiny_data / "oos_eval.yml", "nlu:\n- intent: out_of_scope\n  examples: |\n    - x\n")
    assert all(e.intent != "out_of_scope" for e in load_dir(tiny_data).examples)
