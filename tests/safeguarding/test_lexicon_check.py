"""The lexicon checker catches each kind of error with the right file:line."""

from __future__ import annotations

from pathlib import Path

from safeguarding.lexicon_check import check_dir, check_files

HEADER = "language: {lang}\nname: Test\nentries:\n"


def _write(tmp_path: Path, lang: str, body: str) -> Path:
    path = tmp_path / f"{lang}.yml"
    path.write_text(HEADER.format(lang=lang) + body, encoding="utf-8")
    return path


def _messages(paths: list[Path]) -> list[str]:
    return [str(p) for p in check_files(paths)]


ENTRY = "  - id: {id}\n    category: {cat}\n    severity: {sev}\n    patterns: [{pat}]\n"


def test_bundled_lexicons_are_clean() -> None:
    assert [str(p) for p in check_dir()] == []


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "xa", ENTRY.format(id="xa.suicide.a", cat="suicide", sev="high",
                                               pat='"a b", "c'))
    msgs = _messages([path])
    assert len(msgs) == 1 and msgs[0].startswith(f"{path}:") and "YAML syntax" in msgs[0]
    line = int(msgs[0].split(":")[1])
    assert line in (7, 8)


def test_missing_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "xb", "  - id: xb.suicide.a\n    category: suicide\n"
                                  "    patterns: ['a b']\n")
    assert _messages([path]) == [f"{path}:4: entry missing key 'severity'"]


def test_missing_top_level_keys(tmp_path: Path) -> None:
    path = tmp_path / "xc.yml"
    path.write_text("name: X\n", encoding="utf-8")
    msgs = _messages([path])
    assert f"{path}:1: missing key 'language'" in msgs
    assert any("entries" in m for m in msgs)


def test_unknown_category_severity_signal(tmp_path: Path) -> None:
    body = (ENTRY.format(id="xd.a.a", cat="sadness", sev="high", pat="'a b'")
            + ENTRY.format(id="xd.suicide.b", cat="suicide", sev="huge", pat="'a b'")
            + ENTRY.format(id="xd.grooming.c", cat="grooming", sev="low", pat="'a b'")
            + "    signal: vibes\n")
    path = _write(tmp_path, "xd", body)
    msgs = _messages([path])
    assert f"{path}:5: unknown category 'sadness'" in msgs
    assert f"{path}:10: unknown severity 'huge'" in msgs
    assert f"{path}:16: unknown signal 'vibes'" in msgs


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    one = _write(tmp_path, "xe", ENTRY.format(id="xe.suicide.a", cat="suicide", sev="high",
                                              pat="'a b'"))
    two = tmp_path / "xf.yml"
    two.write_text(HEADER.format(lang="xf") + "\n"
                   + ENTRY.format(id="xe.suicide.a", cat="suicide", sev="high", pat="'c d'"),
                   encoding="utf-8")
    msgs = _messages([one, two])
    assert any(m.startswith(f"{two}:5: duplicate id 'xe.suicide.a'") for m in msgs)
    assert any(f"first at {one}:4" in m for m in msgs)


def test_empty_and_unparsable_patterns(tmp_path: Path) -> None:
    body = ("  - id: xg.suicide.a\n    category: suicide\n    severity: high\n    patterns:\n"
            "      - ''\n      - 'a*b'\n      - '.. start'\n      - 'ok word'\n      - '!!! ...'\n"
            "  - id: xg.suicide.b\n    category: suicide\n    severity: high\n    patterns: []\n")
    path = _write(tmp_path, "xg", body)
    msgs = _messages([path])
    assert f"{path}:8: empty pattern" in msgs
    assert any(m.startswith(f"{path}:9: ") and "cannot parse" in m for m in msgs)
    assert any(m.startswith(f"{path}:10: ") and "between words" in m for m in msgs)
    assert any(m.startswith(f"{path}:12: ") and "normalises to nothing" in m for m in msgs)
    assert any(m.startswith(f"{path}:16: ") and "non-empty" in m for m in msgs)
    assert not any(":11:" in m for m in msgs)


def test_risky_benign_phrase(tmp_path: Path) -> None:
    path = tmp_path / "xh.yml"
    path.write_text("language: xh\nname: X\nbenign:\n  - 'want to die'\nentries:\n"
                    + ENTRY.format(id="xh.suicide.a", cat="suicide", sev="high",
                                   pat="'want to die'"), encoding="utf-8")
    msgs = _messages([path])
    assert any(m.startswith(f"{path}:4: benign phrase") for m in msgs)


def test_language_must_match_file_name(tmp_path: Path) -> None:
    path = tmp_path / "xi.yml"
    path.write_text("language: en\nname: X\nentries: []\n", encoding="utf-8")
    assert any(m.startswith(f"{path}:1: language 'en'") for m in _messages([path]))
