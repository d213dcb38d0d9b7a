"""Each obfuscation kind folds to the same skeleton as the plain spelling."""

from __future__ import annotations

import pytest

from safeguarding.normalise import Normaliser, casefold


@pytest.mark.parametrize(
    ("variant", "plain"),
    [
        ("k1ll mys3lf", "kill myself"),
        ("d!e", "die"),
        ("r@pe", "rape"),
        ("su1c1de", "suicide"),
        ("$uicide", "suicide"),
        ("dieeeee", "die"),
        ("kiiiilll", "kill"),
        ("su\u200bi\u200dcide", "suicide"),
        ("ＫＩＬＬ", "kill"),
        ("сut", "cut"),  # Cyrillic с
        ("kіll", "kill"),  # Cyrillic і
        ("хочу умереть", "hochu umeret"),
        ("хочу умереть", "xochu umeret"),
        ("жити", "zhyty"),
        ("Желим да умрем", "Želim da umrem"),
        ("želim da umrem", "zelim da umrem"),
        ("љубав", "ljubav"),
        ("ђак", "đak"),
        ("đak", "djak"),
        ("vreau să mor", "vreau sa mor"),
        ("vreau şă mor", "vreau să mor"),
        ("х0чу", "хочу"),
        ("I'm", "im"),
    ],
)
def test_variants_share_a_skeleton(norm: Normaliser, variant: str, plain: str) -> None:
    assert norm.skeleton(variant) == norm.skeleton(plain)


def test_different_words_stay_different(norm: Normaliser) -> None:
    assert norm.skeleton("cut") != norm.skeleton("cat")
    assert norm.skeleton("12") != norm.skeleton("iz")


def test_spaced_letters_are_joined(norm: Normaliser) -> None:
    toks = norm.tokens("s u i c i d e now")
    assert toks[0].joined and toks[0].text == norm.skeleton("suicide")
    assert (toks[0].start, toks[0].end) == (0, 13)
    dotted = norm.tokens("k.i.l.l m.y.s.e.l.f")
    assert [t.text for t in dotted] == norm.skeleton("kill myself").split()


def test_offsets_point_into_original(norm: Normaliser) -> None:
    text = "Oh, I want to ki\u200bll MYSELF!!"
    toks = norm.tokens(text)
    last = toks[-1]
    assert text[last.start:last.end] == "MYSELF"
    kill = toks[-2]
    assert text[kill.start:kill.end] == "ki\u200bll"


def test_numbers_with_units_split(norm: Normaliser) -> None:
    assert norm.skeleton("800mg") == norm.skeleton("800 mg")


def test_turkish_casefold() -> None:
    assert casefold("İSTANBUL", "tr") == "istanbul"
    assert casefold("KIZ", "tr") == "kız"
    assert casefold("KIZ", "en") == "kiz"
