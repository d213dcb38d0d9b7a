"""Behaviour of the screen: categories, split turns, grooming combinations, negation, traps."""

from __future__ import annotations

import pytest

from safeguarding.screen import RiskScreen
from safeguarding.verdict import Severity


@pytest.mark.parametrize(
    ("text", "category", "at_least"),
    [
        ("I'm being forced to have sex and I'm only 12 years old", "sexual_abuse", Severity.HIGH),
        ("I was raped", "sexual_abuse", Severity.HIGH),
        ("I want to commit suicide", "suicide", Severity.HIGH),
        ("I make myself throw up to lose weight", "self_harm", Severity.HIGH),
        ("my stepdad hits me", "physical_abuse", Severity.HIGH),
        ("I took all my mum's pills", "suicide", Severity.CRITICAL),
        ("i want to k1ll mys3lf", "suicide", Severity.HIGH),
        ("s u i c i d e", "suicide", Severity.MEDIUM),
        ("xochu umeret", "suicide", Severity.HIGH),
        ("hocu da umrem", "suicide", Severity.HIGH),
        ("хоћу да умрем", "suicide", Severity.HIGH),
        ("vreau sa mor", "suicide", Severity.HIGH),
        ("i want to comit sucide", "suicide", Severity.HIGH),
        ("#iwanttodie", "suicide", Severity.HIGH),
    ],
)
def test_disclosures_are_caught(screen: RiskScreen, text: str, category: str,
                                at_least: Severity) -> None:
    verdict = screen.screen(text)
    assert verdict.severity >= at_least
    assert category in verdict.categories


def test_match_spans_point_into_text(screen: RiskScreen) -> None:
    text = "hey... honestly I want to kill myself"
    verdict = screen.screen(text)
    assert any(text[m.start:m.end] == "kill myself" for m in verdict.matches)


def test_split_disclosure_uses_history(screen: RiskScreen) -> None:
    # The lexicon's window alone (the model may flag a bare "to die" as a please-check).
    alone = screen.screen_lexicon("to die")
    assert alone.severity < Severity.MEDIUM
    verdict = screen.screen("to die", history=["hi", "i want"])
    assert verdict.severity >= Severity.HIGH
    assert any(m.rule.startswith("window:") for m in verdict.matches)
    assert all(0 <= m.start <= m.end <= len("to die") for m in verdict.matches)


def test_history_older_than_window_is_ignored(screen: RiskScreen) -> None:
    history = ["i want", "a", "b", "c", "d", "e"]
    assert screen.screen_lexicon("to die", history=history).severity < Severity.MEDIUM
    assert screen.screen("to die", history=history).severity < Severity.HIGH


def test_grooming_combination_secrecy_and_private_app(screen: RiskScreen) -> None:
    assert screen.screen("he added me on telegram").severity < Severity.MEDIUM
    verdict = screen.screen("he says it's our secret", history=["he added me on telegram"])
    assert verdict.severity >= Severity.HIGH
    assert "grooming" in verdict.categories
    assert any(m.rule.startswith("combo:grooming") for m in verdict.matches)


def test_photo_request_plus_secrecy(screen: RiskScreen) -> None:
    verdict = screen.screen("a guy from a game wants pics and says it's our secret")
    assert verdict.severity >= Severity.HIGH and "grooming" in verdict.categories


def test_sextortion_with_deadline_is_critical(screen: RiskScreen) -> None:
    threat = screen.screen("he says he will post my nudes")
    assert threat.severity == Severity.HIGH and "sextortion" in threat.categories
    deadline = screen.screen("he says he will post my nudes unless I pay by tonight")
    assert deadline.severity == Severity.CRITICAL


def test_ideation_with_timeframe_is_critical(screen: RiskScreen) -> None:
    assert screen.screen("I'm going to end it all").severity == Severity.HIGH
    assert screen.screen("I'm going to end it all tonight").severity == Severity.CRITICAL


def test_a_concern_happening_now_is_high(screen: RiskScreen) -> None:
    """Running-away thoughts are medium; leaving tonight is a disclosure to act on."""
    thoughts = screen.screen_lexicon("i want to run away from home")
    assert thoughts.severity == Severity.MEDIUM
    now = screen.screen_lexicon("i want to run away from home tonight")
    assert now.severity == Severity.HIGH
    assert [m.rule for m in now.matches].count("combo:runaway+timeframe") == 1
    leaving = screen.screen_lexicon("im running away tonight")
    assert leaving.severity == Severity.CRITICAL
    assert [m.rule for m in leaving.matches].count("combo:runaway+timeframe") == 1
    # negated ideation is medium (never cleared); with the means at hand it is high
    assert screen.screen_lexicon("i'm not going to kill myself but i think about it").severity == Severity.MEDIUM
    means = screen.screen_lexicon("i'm not going to kill myself but i have pills saved up")
    assert means.severity == Severity.HIGH and "combo:suicide+means" in [m.rule for m in means.matches]


@pytest.mark.parametrize(
    "text",
    [
        "I'm not going to kill myself but I think about it",
        "I don't want to die",
        "я не собираюсь убивать себя, но думаю об этом",
        "neću se ubiti, ali razmišljam o tome",
    ],
)
def test_negation_never_clears(screen: RiskScreen, text: str) -> None:
    verdict = screen.screen(text)
    assert verdict.severity >= Severity.MEDIUM


def test_negation_lowers_one_step(screen: RiskScreen) -> None:
    assert screen.screen("I'm not going to kill myself").severity == Severity.MEDIUM
    assert screen.screen("I'm going to kill myself").severity >= Severity.HIGH
    # a negation far away (other clause) does not lower
    assert screen.screen("I'm not okay, I want to die").severity >= Severity.HIGH


@pytest.mark.parametrize(
    "text",
    [
        "this homework is killing me",
        "I'm dying of laughter",
        "kill the boss in Minecraft",
        "my son cut his finger cooking",
        "my daughter wants to dye her hair",
        "how do I talk to my 8-year-old about body safety?",
        "я умираю со смеху",
        "mor de râs",
        "umirem od smeha",
    ],
)
def test_benign_traps_do_not_flag(screen: RiskScreen, text: str) -> None:
    assert screen.screen(text).severity < Severity.MEDIUM


def test_benign_mask_does_not_hide_other_risk(screen: RiskScreen) -> None:
    verdict = screen.screen("I'm dying of laughter but really I want to die")
    assert verdict.severity >= Severity.HIGH


def test_third_party_is_at_least_medium(screen: RiskScreen) -> None:
    verdict = screen.screen("my friend says she's going to kill herself")
    assert verdict.severity >= Severity.MEDIUM and "suicide" in verdict.categories


def test_lang_does_not_restrict_lexicons(screen: RiskScreen) -> None:
    assert screen.screen("хочу умереть", lang="en").severity >= Severity.HIGH
    assert screen.screen("I want to die", lang="ru").severity >= Severity.HIGH


@pytest.mark.parametrize("text", ["#killmyself", "#iwanttodie", "i w a n t t o d i e"])
def test_despaced_text_is_segmented(screen: RiskScreen, text: str) -> None:
    assert screen.screen(text).severity >= Severity.HIGH


def test_hostile_input_is_bounded(screen: RiskScreen) -> None:
    import time

    start = time.perf_counter()
    for text in ["#" + "ab" * 5000, "s u i c i d e " * 3000, "x" * 100_000]:
        screen.screen(text)
    assert time.perf_counter() - start < 3.0
