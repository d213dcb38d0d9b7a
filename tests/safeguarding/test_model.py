"""The learned second layer: it may only raise a verdict, its rules, its cache and its CV report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeguarding import model as M
from safeguarding.screen import RiskScreen
from safeguarding.verdict import CATEGORIES, NO_RISK, Match, Severity, Verdict

RISKY_WORDS = ["want to die", "he hits me", "nudes", "secret", "хочу умереть", "pills", "kill", "touches me",
               "homework", "bruise", "my uncle", "vreau sa mor", "bully", "run away", "lol"]


def _verdicts() -> st.SearchStrategy[Verdict]:
    def build(sev: int, cats: list[str]) -> Verdict:
        if sev == 0:
            return NO_RISK
        matches = tuple(Match(0, 3, f"xx.{c}", c, Severity(sev)) for c in cats)
        return Verdict(Severity(sev), tuple(cats), matches)

    return st.builds(build, st.integers(0, 4), st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=3,
                                                          unique=True))


@given(verdict=_verdicts(), text=st.text(max_size=40), cur=st.floats(0, 1), win=st.floats(0, 1),
       prev=st.floats(0, 1), cat=st.sampled_from(CATEGORIES), t=st.floats(0.3, 0.99), dt=st.floats(0, 0.5))
def test_raise_verdict_never_lowers(verdict: Verdict, text: str, cur: float, win: float, prev: float, cat: str,
                                    t: float, dt: float) -> None:
    out = M.raise_verdict(verdict, text, M.Scores(cur, win, prev), cat, t, t + dt)
    assert out.severity >= verdict.severity
    assert set(verdict.categories) <= set(out.categories)
    assert set(verdict.matches) <= set(out.matches)
    if out is not verdict and out.severity > verdict.severity:  # raised: the model's category leads
        assert out.severity in (Severity.MEDIUM, Severity.HIGH)
        assert out.matches[-1] == Match(0, len(text), f"model:{cat}", cat, out.severity)
        assert out.categories[0] == cat
    elif out is not verdict:  # not raised: the model's category is added last, nothing else changes
        assert cat not in verdict.categories
        assert out.categories == (*verdict.categories, cat)
        assert out.matches[:-1] == verdict.matches and out.matches[-1].rule == f"model:{cat}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.one_of(st.sampled_from(RISKY_WORDS), st.text(max_size=12)), max_size=8),
       history=st.lists(st.sampled_from(RISKY_WORDS), max_size=3))
def test_screen_never_below_lexicon(screen: RiskScreen, words: list[str], history: list[str]) -> None:
    text = " ".join(words)
    lexicon = screen.screen_lexicon(text, None, history)
    combined = screen.screen(text, None, history)
    assert combined.severity >= lexicon.severity
    assert set(lexicon.matches) <= set(combined.matches)
    if lexicon.severity >= Severity.HIGH:  # the model may only add a category, after the lexicon's
        assert combined.severity == lexicon.severity
        assert combined.categories[: len(lexicon.categories)] == lexicon.categories
        assert all(m.rule.startswith("model:") for m in combined.matches[len(lexicon.matches):])


def test_a_confident_model_adds_its_category_to_a_high_lexicon_verdict() -> None:
    """Blind sets: the lexicon rated "they took money and I am to marry their son" HIGH as
    exploitation; the model's trafficking must reach the case worker too."""
    text = "uzeo je pare od njih i kaže da se udajem za njihovog sina"
    lex = Verdict(Severity.HIGH, ("exploitation",), (Match(0, 9, "sr.exploitation.x", "exploitation", Severity.HIGH),))
    out = M.raise_verdict(lex, text, M.Scores(0.97), "trafficking", 0.8, 0.95)
    assert out.severity == Severity.HIGH
    assert out.categories == ("exploitation", "trafficking")
    assert out.matches[-1] == Match(0, len(text), "model:trafficking", "trafficking", Severity.HIGH)
    assert M.raise_verdict(lex, text, M.Scores(0.5), "trafficking", 0.8, 0.95) is lex  # not confident
    assert M.raise_verdict(lex, text, M.Scores(0.97), "exploitation", 0.8, 0.95) is lex  # nothing new


def test_raising_rules() -> None:
    text = "something new"
    low = Verdict(Severity.LOW, ("suicide",), (Match(0, 3, "en.suicide.means", "suicide", Severity.LOW),))
    # below T: unchanged
    assert M.raise_verdict(NO_RISK, text, M.Scores(0.5), "suicide", 0.8, 0.95) is NO_RISK
    # T <= p < T_high: MEDIUM with a whole-text model match
    med = M.raise_verdict(low, text, M.Scores(0.85), "bullying", 0.8, 0.95)
    assert med.severity == Severity.MEDIUM
    assert med.categories == ("bullying", "suicide")
    assert med.matches[-1] == Match(0, len(text), "model:bullying", "bullying", Severity.MEDIUM)
    # p >= T_high and a high category: HIGH
    assert M.raise_verdict(NO_RISK, text, M.Scores(0.97), "sexual_abuse", 0.8, 0.95).severity == Severity.HIGH
    # p >= T_high but not a high category: only MEDIUM
    assert M.raise_verdict(NO_RISK, text, M.Scores(0.97), "bullying", 0.8, 0.95).severity == Severity.MEDIUM
    # a lexicon MEDIUM is raised to HIGH only by a confident high-category score
    lex_med = Verdict(Severity.MEDIUM, ("grooming",), (Match(0, 3, "en.g", "grooming", Severity.MEDIUM),))
    below_high = M.raise_verdict(lex_med, text, M.Scores(0.85), "suicide", 0.8, 0.95)
    assert below_high.severity == Severity.MEDIUM and below_high.categories == ("grooming", "suicide")
    assert M.raise_verdict(lex_med, text, M.Scores(0.99), "suicide", 0.8, 0.95).severity == Severity.HIGH
    # CRITICAL is never changed in severity; a category already there adds nothing
    crit = Verdict(Severity.CRITICAL, ("suicide",), ())
    assert M.raise_verdict(crit, text, M.Scores(1.0), "suicide", 0.8, 0.95) is crit
    assert M.raise_verdict(crit, text, M.Scores(1.0), "self_harm", 0.8, 0.95).severity == Severity.CRITICAL


def test_window_counts_only_new_evidence() -> None:
    assert M.Scores(0.1, 0.9, 0.2).flagged(0.8) == (True, True)
    assert M.Scores(0.1, 0.9, 0.9).flagged(0.8) == (False, False)  # history alone was already a flag
    assert M.Scores(0.9).flagged(0.8) == (True, False)


def test_features_char_and_word_ngrams() -> None:
    feats = M.features(["hi", "mum"])
    assert " h" in feats and " hi " in feats and "w:hi" in feats and "b:hi mum" in feats
    assert all(len(f) <= 5 for f in feats if not f.startswith(("w:", "b:")))


def _tiny_samples() -> list[M.Sample]:
    risk = ["i want to die", "he hits me every day", "my uncle touches me", "i cut myself", "kill myself tonight",
            "nobody would miss me", "he beats my mum", "they will post my nudes", "i want to end it",
            "he hurts me at night", "i hate my life so much", "she slaps me hard"]
    benign = ["what time is my appointment", "how much screen time", "hello there", "bedtime routine tips",
              "my son will not eat vegetables", "how do i set parental controls", "thanks bye",
              "when is the next meeting", "my daughter is shy", "how to talk about puberty",
              "homework help please", "good morning"]
    cats = ["suicide", "physical_abuse", "sexual_abuse", "self_harm"]
    out = [M.Sample(t, True, cats[i % 4], "en", "case", categories=(cats[i % 4],), expect=3)
           for i, t in enumerate(risk)]
    out += [M.Sample(t, False, None, "en", "nlu" if i % 2 else "case") for i, t in enumerate(benign)]
    return out


def test_fit_and_sparse_dot_matches_sklearn_shape() -> None:
    samples = _tiny_samples()
    model = M.fit(samples, str.split)
    assert model.probability(["i", "want", "to", "die"]) > model.probability(["hello", "there"])
    assert model.category(["i", "want", "to", "die"]) in model.categories
    assert 0.0 <= model.probability([]) <= 1.0
    assert isinstance(model.cat_coef, np.ndarray)


def test_cross_validate_report() -> None:
    samples = _tiny_samples() * 1  # groups are by skeleton, so duplicates would share a fold
    held, chosen = M.cross_validate(samples, str.split, lambda s: NO_RISK, folds=3)
    assert len(held) == len(samples)
    report = chosen["report"]
    assert 0.3 <= chosen["threshold"] <= 0.995
    assert chosen["threshold_high"] >= chosen["threshold"]
    for key in ("recall_combined", "recall_model_alone", "false_flags_cases", "false_flags_nlu", "by_lang"):
        assert key in report
    hits, total = report["recall_combined"]
    assert total == 12 and 0 <= hits <= total
    text = M.format_cv(report)
    assert "held-out recall, combined screen" in text and "[en]" in text


def test_cache_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake_train(tokenize: M.Tokenize, lexicon: object, lexicon_dir: Path | None = None,
                   folds: int = 5) -> M.RiskModel:
        calls.append(1)
        return M.fit(_tiny_samples(), str.split)

    monkeypatch.setattr(M, "train", fake_train)
    first = M.load_or_train(str.split, lambda s: NO_RISK, None, tmp_path)
    assert calls == [1]
    assert list(tmp_path.glob("risk-model-*.pkl"))
    second = M.load_or_train(str.split, lambda s: NO_RISK, None, tmp_path)
    assert calls == [1]  # loaded, not retrained
    assert second.weights == first.weights
    # a corrupt cache file is ignored and rebuilt
    for path in tmp_path.glob("risk-model-*.pkl"):
        path.write_bytes(b"not a pickle")
    M.load_or_train(str.split, lambda s: NO_RISK, None, tmp_path)
    assert calls == [1, 1]


def test_cache_dir_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CASELINE_DATA_DIR", str(tmp_path))
    assert M.default_cache_dir() == tmp_path / "screen-cache"


def test_loaded_screen_has_model_and_cv_report(screen: RiskScreen) -> None:
    assert screen.model is not None
    report = screen.model.report
    added, benign = report["model_added_false_flags_cases"]
    assert added <= M.MAX_FALSE_FLAGS * benign
    assert screen.model.threshold <= screen.model.threshold_high


def test_worried_parent_questions_are_negatives() -> None:
    samples = M.load_samples()
    nlu = [s for s in samples if s.source == "nlu"]
    assert nlu and not any(s.risk for s in nlu)
    assert all("[" not in s.text or "](" not in s.text for s in nlu)


def test_model_leaves_bare_answers_alone(screen: RiskScreen) -> None:
    """Typed ages and one-word answers are what flows ask for; they must not page anyone."""
    for text in ("3", "12", "2 ", "ok", "yes", "Da"):
        assert screen.screen(text, "ro", ["salut"]).severity < Severity.MEDIUM, text


def test_lexicon_risk_patterns_are_not_taught_but_benign_phrases_are() -> None:
    """Risk patterns as short positives swamped the real messages (see the module notes)."""
    samples = M.load_samples()
    sources = {s.source for s in samples}
    assert "benign_phrase" in sources and "pattern" not in sources
    assert not any(s.risk for s in samples if s.source == "benign_phrase")
    assert {"case", "dev"} <= sources
    dev_files = {p.name.split("-")[0] for p in M.dev_files(M.EVAL_DIR)}
    assert {"dev", "dev5", "train"} <= dev_files and not any(n.startswith("heldout") for n in dev_files)


def test_high_threshold_is_judged_on_the_models_own_flags() -> None:
    """The lexicon rates every held-out disclosure HIGH (it was tuned on them) and the model
    flags them too, plus one benign message in 400. Judged only where the lexicon stayed
    below HIGH, that one benign flag would be all the model ever raised, and HIGH would be
    refused; judged on the model's own flags, 100 of 101 are right."""
    high = Verdict(Severity.HIGH, ("suicide",), (Match(0, 3, "en.x", "suicide", Severity.HIGH),))
    risk = [M.HeldOut(M.Sample(f"r{i}", True, "suicide", "en", "case", categories=("suicide",), expect=3),
                      high, M.Scores(0.97), "suicide", "suicide") for i in range(100)]
    benign = [M.HeldOut(M.Sample(f"b{i}", False, None, "en", "case"), NO_RISK,
                        M.Scores(0.97 if i == 0 else 0.1), "suicide", "suicide") for i in range(400)]
    chosen = M.choose_thresholds([*risk, *benign])
    assert chosen["threshold"] <= 0.97
    assert chosen["threshold_high"] <= 0.97
    assert M.raise_verdict(NO_RISK, "x", M.Scores(0.97), "suicide", chosen["threshold"],
                           chosen["threshold_high"]).severity == Severity.HIGH
