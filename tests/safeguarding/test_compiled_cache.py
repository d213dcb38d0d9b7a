"""Compiled lexicons come from the cache only while the lexicon files and the screen's code are unchanged."""

from __future__ import annotations

from pathlib import Path

from safeguarding.screen import RiskScreen

LEXICON = """\
language: en
name: English
entries:
  - id: en.test.die
    category: suicide
    severity: high
    patterns: ["want to die"]
"""


def test_the_cache_is_used_and_an_edit_rebuilds(tmp_path: Path) -> None:
    lex, cache = tmp_path / "lex", tmp_path / "cache"
    lex.mkdir()
    (lex / "en.yml").write_text(LEXICON, encoding="utf-8")
    first = RiskScreen.load(lex, cache, use_model=False)
    assert first.screen_lexicon("i want to die").categories == ("suicide",)
    [pickled] = cache.glob("lexicons-*.pkl")
    second = RiskScreen.load(lex, cache, use_model=False)
    assert second is not first and second.pattern_count == first.pattern_count == 1
    assert second.screen_lexicon("i want to die").categories == ("suicide",)
    (lex / "en.yml").write_text(LEXICON.replace("want to die", "wanna die"), encoding="utf-8")
    third = RiskScreen.load(lex, cache, use_model=False)
    assert third.screen_lexicon("i wanna die").categories == ("suicide",)
    assert third.screen_lexicon("i want to die").severity.label == "none"
    assert len(list(cache.glob("lexicons-*.pkl"))) == 2 and pickled.exists()


def test_a_corrupt_cache_file_is_rebuilt(tmp_path: Path) -> None:
    lex, cache = tmp_path / "lex", tmp_path / "cache"
    lex.mkdir()
    (lex / "en.yml").write_text(LEXICON, encoding="utf-8")
    RiskScreen.load(lex, cache, use_model=False)
    [pickled] = cache.glob("lexicons-*.pkl")
    pickled.write_bytes(b"not a pickle")
    screen = RiskScreen.load(lex, cache, use_model=False)
    assert screen.screen_lexicon("i want to die").categories == ("suicide",)
