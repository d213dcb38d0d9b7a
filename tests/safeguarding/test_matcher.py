"""Spelling repair in the pattern index: short stems must not shield misspellings from repair."""

from __future__ import annotations

import os
import subprocess
import sys

from safeguarding.lexicon import EXACT, PREFIX
from safeguarding.matcher import PatternIndex


def test_a_short_stem_does_not_make_every_word_it_starts_known() -> None:
    # Another language's pattern "soğuk su*" (cold water) must not stop "sucide" -> "suicide".
    index = PatternIndex([(((EXACT, "suicide"),), "en"), (((EXACT, "soguk"), (PREFIX, "su")), "tr")])
    assert index.repair("sucide") == "suicide"
    assert index.known("suya") is False and index.known("suicide")


def test_a_long_stem_still_marks_its_words_known() -> None:
    index = PatternIndex([(((PREFIX, "suicid"),), "en"), (((EXACT, "sucker"),), "x")])
    assert index.known("suicidal")
    assert index.repair("suicidal") == "suicidal"


def test_repair_is_the_same_in_every_process() -> None:
    """Two words are each one edit from "kabcde"; which one wins must not depend on the
    per-process string hash seed (it did: the same message screened differently per run)."""
    code = (
        "from safeguarding.lexicon import EXACT\n"
        "from safeguarding.matcher import PatternIndex\n"
        "i = PatternIndex([(((EXACT, 'kabcdz'),), 1), (((EXACT, 'zabcde'),), 2)])\n"
        "print(i.repair('kabcde'))\n"
    )
    seen = set()
    for seed in range(8):
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        seen.add(out.stdout.strip())
    assert len(seen) == 1 and seen <= {"kabcdz", "zabcde"}


def test_an_everyday_word_is_not_repaired_into_the_risk_word_one_edit_away() -> None:
    index = PatternIndex([(((EXACT, "викрали"),), 1)])
    assert index.repair("викралі") == "викрали"  # a misspelling is still repaired
    assert index.repair("виклали") == "викрали"  # without knowing the everyday word...
    index.everyday = frozenset({"виклали"})  # ..."they posted" is not "they kidnapped"
    assert index.repair("виклали") == "виклали" and index.repair("викралі") == "викрали"


def test_the_screen_knows_the_words_of_its_benign_training_texts(screen) -> None:  # type: ignore[no-untyped-def]
    from safeguarding.screen import everyday_words

    words = everyday_words(screen._norm)
    assert len(words) > 5_000  # NLU examples in seven languages, benign cases and phrases
    assert screen._index.everyday >= words
