"""Learned second layer of the risk screen: a multilingual n-gram classifier that may only RAISE.

Why: the lexicon is exact on what it lists but misses unseen indirect phrasings and
paraphrases (about 0.57 recall on a fresh blind set). Reference §3.3: a classifier behind the
deterministic layer may raise severity, never lower it. One logistic-regression model for
all languages reads the screen's own folded Latin skeleton (transliteration, diacritics,
leet and homoglyphs already handled) as char_wb 2-5 grams plus word 1-2 grams.

Training data comes only from the repo: labelled cases (cases-*, dev*-*, train-*), and as
negatives the benign cases, the lexicons' benign phrases and the NLU training examples
(parenting, cyber-safety, probation, chatter). The lexicon's risk patterns are not taught:
the lexicon already catches what they say, and as 60,000 short positives they drowned the
messages; grouped CV on 2,663 risk cases, at 2% added false flags, caught 23% of what the
lexicon missed with them and 73% without. NLU examples that the
lexicon itself flags (e.g. "someone is threatening to share my nudes" filed under
cyber_sextortion) are real disclosures, not benign: they are left out rather than taught as
negatives. Thresholds come from grouped cross-validation (see :func:`cross_validate`).

At run time the model is a plain dict of feature -> (idf, idf * weight) plus a small
category matrix, so scoring is a sparse dot product in pure Python; sklearn is imported only
to train. The trained model is cached on disk, keyed by a hash of every training file.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from caseline.pickle_cache import content_key, load_pickle, save_pickle
from safeguarding.verdict import Match, Severity, Verdict

MODEL_VERSION = "4"
EVAL_DIR = Path(__file__).resolve().parent / "eval"
LEXICON_DIR = Path(__file__).resolve().parent / "lexicons"
NLU_DIR = Path(__file__).resolve().parent.parent / "nlu" / "data"
# Categories where a confident model may raise to HIGH: the disclosures the issue rates high
# (abuse, neglect, self-harm, grooming, sextortion, ideation). Bullying and running-away
# thoughts are medium by definition; the model never raises to critical.
HIGH_CATEGORIES: frozenset[str] = frozenset(
    {
        "suicide",
        "self_harm",
        "sexual_abuse",
        "physical_abuse",
        "sextortion",
        "grooming",
        "neglect",
        "trafficking",
        "exploitation",
        "domestic_violence",
        "caregiver_risk",
        "violence_to_others",
    }
)
MAX_FALSE_FLAGS = 0.025  # held-out benign the model flags and the lexicon did not, per benign source
# Held-out benign raised to HIGH by the model: the reference's T5 allows 1% at >= P1. At 0.5%
# T_high was 0.94 and dev7 (not trained on) rated 59/64 critical cases >= high; at 1%, 62/64.
MAX_HIGH_FALSE_FLAGS = 0.01
HISTORY = 2  # earlier messages joined with the current one for split disclosures
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")

Tokenize = Callable[[str], Sequence[str]]


# -- features ---------------------------------------------------------------------------
def features(tokens: Sequence[str]) -> list[str]:
    """char_wb 2-5 grams of each skeleton token plus word uni- and bigrams."""
    out: list[str] = []
    append = out.append
    prev = ""
    for tok in tokens:
        padded = f" {tok} "
        n = len(padded)
        for size in (2, 3, 4, 5):
            if size > n:
                break
            for i in range(n - size + 1):
                append(padded[i : i + size])
        append(f"w:{tok}")
        if prev:
            append(f"b:{prev} {tok}")
        prev = tok
    return out


# -- training data ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Sample:
    text: str
    risk: bool
    category: str | None
    lang: str
    source: str  # case, dev, nlu, benign_phrase
    history: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # every acceptable category (cases)
    expect: int = 0

    @property
    def joined(self) -> str:
        return " ".join([*self.history, self.text])

    @property
    def evaluable(self) -> bool:
        """Held-out scoring uses realistic messages, not lexicon phrases."""
        return self.source in ("case", "dev", "nlu")


def dev_files(eval_dir: Path) -> list[Path]:
    """Sets written blind, scored once, then tuned on: dev-*, then devN-* (ex heldoutN), then
    train-* (written as training data, never scored as a measure)."""
    return (sorted(eval_dir.glob("dev-*.jsonl")) + sorted(eval_dir.glob("dev[0-9]-*.jsonl"))
            + sorted(eval_dir.glob("train-*.jsonl")))


def training_files(lexicon_dir: Path | None = None, eval_dir: Path | None = None,
                   nlu_dir: Path | None = None) -> list[Path]:
    """Every file the model learns from (never the blind held-out sets)."""
    ev = eval_dir or EVAL_DIR
    files = sorted((lexicon_dir or LEXICON_DIR).glob("*.yml"))
    files += sorted(ev.glob("cases-*.jsonl")) + dev_files(ev)
    nd = nlu_dir or NLU_DIR
    if nd.is_dir():
        files += sorted(p for d in sorted(nd.iterdir()) if d.is_dir() for p in d.glob("*.yml"))
    return files


def _cases(paths: Iterable[Path], source: str) -> list[Sample]:
    out: list[Sample] = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            obj = json.loads(line)
            expect = Severity.parse(str(obj["expect"]))
            cats = tuple(str(c) for c in obj.get("categories") or ())
            risk = expect >= Severity.MEDIUM
            out.append(Sample(str(obj["text"]), risk, cats[0] if risk and cats else None, str(obj["lang"]),
                              source, tuple(str(h) for h in obj.get("history") or ()),
                              tuple(str(t) for t in obj.get("tags") or ()), cats, int(expect)))
    return out


def _nlu(nlu_dir: Path) -> list[Sample]:
    out: list[Sample] = []
    if not nlu_dir.is_dir():
        return out
    for lang_dir in sorted(nlu_dir.iterdir()):
        if not lang_dir.is_dir():
            continue
        for path in sorted(lang_dir.glob("*.yml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for item in data.get("nlu") or []:
                if not isinstance(item, dict) or "intent" not in item:
                    continue
                block = item.get("examples")
                if not isinstance(block, str):
                    continue
                for line in block.splitlines():
                    line = line.strip()
                    if line.startswith("- "):
                        text = _ANNOTATION.sub(r"\1", line[2:].strip())
                        if text:
                            out.append(Sample(text, False, None, lang_dir.name, "nlu",
                                              tags=(f"intent:{item['intent']}",)))
    return out


def _benign_phrases(lexicon_dir: Path) -> list[Sample]:
    """The lexicons' benign phrases ("this homework is killing me"), as negatives."""
    out: list[Sample] = []
    for path in sorted(lexicon_dir.glob("*.yml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            continue
        if not isinstance(data, dict):
            continue
        lang = str(data.get("language") or path.stem)
        for phrase in data.get("benign") or []:
            if isinstance(phrase, str) and _phrase(phrase):
                out.append(Sample(_phrase(phrase), False, None, lang, "benign_phrase"))
    return out


def _phrase(pattern: str) -> str:
    return " ".join(w.rstrip("*") for w in pattern.split() if w != "..").strip()


def load_samples(lexicon_dir: Path | None = None, eval_dir: Path | None = None,
                 nlu_dir: Path | None = None) -> list[Sample]:
    ev = eval_dir or EVAL_DIR
    samples = _cases(sorted(ev.glob("cases-*.jsonl")), "case")
    samples += _cases(dev_files(ev), "dev")
    samples += _nlu(nlu_dir or NLU_DIR)
    samples += _benign_phrases(lexicon_dir or LEXICON_DIR)
    return samples


# -- the run-time model -----------------------------------------------------------------
@dataclass(slots=True)
class RiskModel:
    """Sparse linear model: P(risk) and the most likely category."""

    weights: dict[str, tuple[float, float, int]]  # feature -> (idf, idf * risk weight, column)
    intercept: float
    categories: tuple[str, ...]
    cat_coef: np.ndarray  # (columns, categories), already multiplied by idf
    cat_intercept: np.ndarray
    threshold: float = 0.5
    threshold_high: float = 1.01
    report: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = {k: getattr(self, k) for k in self.__slots__}
        state["_cache"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)

    def _token_features(self, tok: str) -> tuple[str, ...]:
        """In-vocabulary char n-grams and unigram of one token (cached: tokens repeat a lot)."""
        cache = self._cache
        hit = cache.get(tok)
        if hit is None:
            if len(cache) > 100_000:
                cache.clear()
            w = self.weights
            hit = tuple(f for f in features((tok,)) if f in w)
            cache[tok] = hit
        return hit

    def _vector(self, tokens: Sequence[str]) -> tuple[dict[str, int], float, float]:
        """Feature counts, the L2 norm of their tf-idf vector and its dot with the risk
        weights, in one pass: the model runs on most messages, so this is the screen's
        second-hottest loop after the pattern index."""
        feats: list[str] = []
        extend = feats.extend
        w = self.weights
        prev = ""
        for tok in tokens:
            extend(self._token_features(tok))
            if prev:
                b = f"b:{prev} {tok}"
                if b in w:
                    feats.append(b)
            prev = tok
        counts = Counter(feats)
        sq = 0.0
        dot = 0.0
        log = math.log
        for f, c in counts.items():
            idf, weighted, _ = w[f]
            if c > 1:
                tf = 1.0 + log(c)
                idf *= tf
                weighted *= tf
            sq += idf * idf
            dot += weighted
        return counts, math.sqrt(sq), dot

    def probability(self, tokens: Sequence[str]) -> float:
        _, norm, dot = self._vector(tokens)
        z = self.intercept + (dot / norm if norm > 0 else 0.0)
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def category(self, tokens: Sequence[str]) -> str:
        counts, norm, _ = self._vector(tokens)
        scores = self.cat_intercept.copy()
        if norm > 0:
            cols = [self.weights[f][2] for f in counts]
            tf = np.array([1.0 + math.log(c) for c in counts.values()]) / norm
            scores = scores + tf @ self.cat_coef[cols]
        return self.categories[int(np.argmax(scores))]


def sample_weights(samples: Sequence[Sample], power: float = 0.5) -> np.ndarray:
    """Balance risk/benign within each language (weight ~ count(lang, label) ** -power).

    Why: Arabic, Armenian, Georgian ... have no NLU negatives, so without this the script
    itself reads as risk and ordinary Arabic questions are flagged.
    """
    counts: dict[tuple[str, bool], int] = {}
    for s in samples:
        counts[(s.lang, s.risk)] = counts.get((s.lang, s.risk), 0) + 1
    w = np.array([counts[(s.lang, s.risk)] ** -power for s in samples], dtype=np.float64)
    y = np.array([s.risk for s in samples])
    for label in (False, True):  # then balance the two classes overall
        sel = y == label
        if sel.any():
            w[sel] *= 0.5 * len(samples) / w[sel].sum()
    return w


def fit(samples: Sequence[Sample], tokenize: Tokenize, c_risk: float = 16.0, c_cat: float = 0.5,
        power: float = 0.5) -> RiskModel:
    """Train the risk and category models (imports sklearn lazily)."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    docs = [list(tokenize(s.joined)) for s in samples]
    vec = CountVectorizer(analyzer=features, min_df=2, dtype=np.float64)
    counts = vec.fit_transform(docs)
    tfidf = TfidfTransformer(sublinear_tf=True)
    x = tfidf.fit_transform(counts)
    y = np.array([s.risk for s in samples], dtype=int)
    risk = LogisticRegression(C=c_risk, max_iter=3000, solver="liblinear", random_state=0)
    risk.fit(x, y, sample_weight=sample_weights(samples, power))
    pos = np.flatnonzero(y == 1)
    cat_y = np.array([samples[int(i)].category or "" for i in pos])
    cat = LinearSVC(C=c_cat, class_weight="balanced", random_state=0)  # one-vs-rest; only the argmax is used
    cat.fit(x[pos], cat_y)
    idf = tfidf.idf_
    coef = risk.coef_[0]
    weights = {f: (float(idf[j]), float(idf[j] * coef[j]), int(j)) for f, j in vec.vocabulary_.items()}
    cat_coef = (cat.coef_.T * idf[:, None]).astype(np.float64)
    return RiskModel(weights, float(risk.intercept_[0]), tuple(str(c) for c in cat.classes_), cat_coef,
                     cat.intercept_.astype(np.float64))


# -- the raising rule -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Scores:
    """Model scores for one message: alone, with recent history, and the history alone."""

    current: float
    window: float = 0.0
    previous: float = 1.0

    def flagged(self, threshold: float) -> tuple[bool, bool]:
        """(raised, via the window); the window counts only if the history alone was not."""
        if self.current >= threshold:
            return True, False
        if self.window >= threshold and self.previous < threshold:
            return True, True
        return False, False

    def level(self, threshold: float) -> float:
        return self.window if self.flagged(threshold)[1] else self.current


def score(model: RiskModel, tokenize: Tokenize, text: str, history: Sequence[str] = ()) -> Scores:
    cur = model.probability(tokenize(text))
    past = [h for h in history[-HISTORY:] if isinstance(h, str) and h.strip()]
    if cur >= model.threshold or not past:
        return Scores(cur)
    window = model.probability(tokenize(" ".join([*past, text])))
    if window < model.threshold:
        return Scores(cur, window)
    return Scores(cur, window, model.probability(tokenize(" ".join(past))))


def raise_verdict(verdict: Verdict, text: str, scores: Scores, category: str, threshold: float,
                  threshold_high: float) -> Verdict:
    """Combine a lexicon verdict with model scores: severity can only go up.

    When the model flags a message the lexicon already rates as high or higher, its category
    is still added (last): the lexicon's category decides the response, but the case worker
    sees what else the message may be. dev7 (ex-heldout7) showed the lexicon's category often
    wrong on new wording ("married off for money" filed as exploitation, not trafficking)."""
    raised, _ = scores.flagged(threshold)
    if not raised:
        return verdict
    p = scores.level(threshold)
    target = Severity.MEDIUM
    if p >= threshold_high and category in HIGH_CATEGORIES:
        target = Severity.HIGH
    match = Match(0, len(text), f"model:{category}", category, target)
    if target <= verdict.severity:
        if category in verdict.categories:
            return verdict
        return Verdict(verdict.severity, (*verdict.categories, category), (*verdict.matches, match))
    cats = (category, *(c for c in verdict.categories if c != category))
    return Verdict(target, cats, (*verdict.matches, match))


# -- cross-validation -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HeldOut:
    sample: Sample
    lexicon: Verdict
    scores: Scores
    category: str  # category predicted for the text the flag would come from
    window_category: str


def _groups(samples: Sequence[Sample], tokenize: Tokenize) -> list[str]:
    """One group per skeleton: obfuscated/duplicated variants of a case share a fold."""
    return [" ".join(tokenize(s.joined)) for s in samples]


def cross_validate(samples: Sequence[Sample], tokenize: Tokenize, lexicon: Callable[[Sample], Verdict],
                   folds: int = 5, seed: int = 0) -> tuple[list[HeldOut], dict[str, Any]]:
    """Grouped, stratified K-fold: held-out scores for every case/dev/NLU sample, then thresholds.

    Benign phrases train every fold, except any whose skeleton equals a held-out message.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    groups = _groups(samples, tokenize)
    ev_idx = [i for i, s in enumerate(samples) if s.evaluable]
    fixed = [i for i, s in enumerate(samples) if not s.evaluable]
    strat = [f"{int(samples[i].risk)}:{samples[i].source}" for i in ev_idx]
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    held: list[HeldOut] = []
    for train_pos, test_pos in splitter.split(ev_idx, strat, [groups[i] for i in ev_idx]):
        test = [ev_idx[p] for p in test_pos]
        test_groups = {groups[i] for i in test}
        train = [ev_idx[p] for p in train_pos] + [i for i in fixed if groups[i] not in test_groups]
        model = fit([samples[i] for i in train], tokenize)
        for i in test:
            s = samples[i]
            cat = model.category(tokenize(s.text))
            wcat = model.category(tokenize(" ".join([*s.history[-HISTORY:], s.text]))) if s.history else cat
            held.append(HeldOut(s, lexicon(s), _full_scores(model, tokenize, s), cat, wcat))
    thresholds = choose_thresholds(held)
    return held, thresholds


def _full_scores(model: RiskModel, tokenize: Tokenize, s: Sample) -> Scores:
    cur = model.probability(tokenize(s.text))
    past = [h for h in s.history[-HISTORY:] if h.strip()]
    if not past:
        return Scores(cur)
    return Scores(cur, model.probability(tokenize(" ".join([*past, s.text]))),
                  model.probability(tokenize(" ".join(past))))


def _combined(h: HeldOut, t: float, t_high: float) -> Verdict:
    _, via_window = h.scores.flagged(t)
    cat = h.window_category if via_window else h.category
    return raise_verdict(h.lexicon, h.sample.text, h.scores, cat, t, t_high)


def _caught(s: Sample, v: Verdict) -> bool:
    return v.severity >= Severity.MEDIUM and (not s.categories or bool(set(s.categories) & set(v.categories)))


def _model_caught(h: HeldOut, t: float) -> bool:
    raised, via_window = h.scores.flagged(t)
    cat = h.window_category if via_window else h.category
    return raised and (not h.sample.categories or cat in h.sample.categories)


def evaluate_heldout(held: Sequence[HeldOut], t: float, t_high: float) -> dict[str, Any]:
    """Held-out figures at thresholds (t, t_high): combined screen, model alone, false flags."""
    risk = [h for h in held if h.sample.risk]
    rep: dict[str, Any] = {"threshold": t, "threshold_high": t_high}

    def rate(items: Sequence[HeldOut], ok: Callable[[HeldOut], bool]) -> list[int]:
        return [sum(1 for h in items if ok(h)), len(items)]

    rep["recall_combined"] = rate(risk, lambda h: _caught(h.sample, _combined(h, t, t_high)))
    rep["recall_lexicon"] = rate(risk, lambda h: _caught(h.sample, h.lexicon))
    rep["recall_model_alone"] = rate(risk, lambda h: _model_caught(h, t))
    crit = [h for h in risk if h.sample.expect >= Severity.CRITICAL]
    rep["critical_high_combined"] = rate(crit, lambda h: _combined(h, t, t_high).severity >= Severity.HIGH)
    by_lang: dict[str, dict[str, list[int]]] = {}
    for lang in sorted({h.sample.lang for h in held}):
        lr = [h for h in risk if h.sample.lang == lang]
        lb = [h for h in held if not h.sample.risk and h.sample.lang == lang and h.sample.source != "nlu"]
        ln = [h for h in held if not h.sample.risk and h.sample.lang == lang and h.sample.source == "nlu"]
        by_lang[lang] = {
            "recall_combined": rate(lr, lambda h: _caught(h.sample, _combined(h, t, t_high))),
            "recall_model_alone": rate(lr, lambda h: _model_caught(h, t)),
            "false_flags_cases": rate(lb, lambda h: _combined(h, t, t_high).escalates),
            "false_flags_nlu": rate(ln, lambda h: _combined(h, t, t_high).escalates),
        }
    rep["by_lang"] = by_lang
    by_tag: dict[str, list[int]] = {}
    for tag in sorted({tg for h in risk for tg in h.sample.tags}):
        by_tag[tag] = rate([h for h in risk if tag in h.sample.tags], lambda h: _model_caught(h, t))
    rep["model_alone_by_tag"] = by_tag
    benign_cases = [h for h in held if not h.sample.risk and h.sample.source != "nlu"]
    benign_nlu = [h for h in held if not h.sample.risk and h.sample.source == "nlu"]
    rep["false_flags_cases"] = rate(benign_cases, lambda h: _combined(h, t, t_high).escalates)
    rep["false_flags_nlu"] = rate(benign_nlu, lambda h: _combined(h, t, t_high).escalates)
    rep["model_added_false_flags_cases"] = rate(
        benign_cases, lambda h: not h.lexicon.escalates and h.scores.flagged(t)[0])
    rep["false_high_model"] = rate([h for h in held if not h.sample.risk],
                                   lambda h: h.lexicon.severity < Severity.HIGH
                                   and _combined(h, t, t_high).severity >= Severity.HIGH)
    return rep


def _frac(pair: Sequence[int]) -> float:
    return pair[0] / pair[1] if pair[1] else 0.0


def choose_thresholds(held: Sequence[HeldOut]) -> dict[str, Any]:
    """T: most held-out recall (model alone; the lexicon was tuned on many of these cases, so
    combined recall overstates what a new message meets) with false flags the model adds
    <= 2.5% on held-out benign cases AND on held-out NLU examples. T_high: lowest threshold
    >= T at which the model's own flags in a HIGH category hit at most 1% of held-out
    benign messages and are right (expect >= high) at least 90% of the time.

    T_high is judged on the model's flags alone, not only where the lexicon stayed below
    HIGH: the lexicon is tuned on these very cases, so below-HIGH held-out messages were
    almost all benign, and HIGH was never allowed (1.01), although 91% of the model's
    HIGH-category flags at T are right. On new messages the lexicon misses real
    disclosures, and those are what the model's HIGH is for."""
    grid = [round(x, 3) for x in np.arange(0.30, 0.995, 0.01)]
    best: tuple[float, float] | None = None
    for t in grid:
        rep = evaluate_heldout_fast(held, t)
        if rep[1] > MAX_FALSE_FLAGS or rep[2] > MAX_FALSE_FLAGS:
            continue
        if best is None or rep[0] > best[1]:
            best = (t, rep[0])
    t = best[0] if best else 0.995
    t_high = 1.01
    benign_n = sum(1 for h in held if not h.sample.risk)
    for th in [g for g in grid if g >= t] + [0.995]:
        raised = [h for h in held if _high_flag(h, th)]
        false = sum(1 for h in raised if not h.sample.risk)
        right = sum(1 for h in raised if h.sample.expect >= Severity.HIGH)
        if benign_n and false / benign_n <= MAX_HIGH_FALSE_FLAGS and (not raised or right / len(raised) >= 0.9):
            t_high = th
            break
    return {"threshold": t, "threshold_high": t_high, "report": evaluate_heldout(held, t, t_high)}


def _high_flag(h: HeldOut, th: float) -> bool:
    """The model alone would flag ``h`` at ``th`` in a category it may raise to HIGH."""
    raised, via_window = h.scores.flagged(th)
    return raised and (h.window_category if via_window else h.category) in HIGH_CATEGORIES


def evaluate_heldout_fast(held: Sequence[HeldOut], t: float) -> tuple[float, float, float]:
    """(model-alone recall, false flags the model adds on benign cases and on NLU) at threshold t.

    Only the model's own flags count against its budget. The lexicon was tuned on most sets,
    so its held-out false flags used to be nil and the budget was in effect the model's; with
    sets the lexicon was never tuned on (train-c/d/e: 1.8% lexicon false flags) they ate the
    budget and pushed T from 0.92 to 0.97, which cut dev7 (not trained on) escalation from
    0.96 to 0.89 while the model added no false flag there at either threshold."""
    r = [0, 0]
    fc = [0, 0]
    fn = [0, 0]
    for h in held:
        if h.sample.risk:
            r[0] += _model_caught(h, t)
            r[1] += 1
            continue
        raised = not h.lexicon.escalates and h.scores.flagged(t)[0]
        slot = fn if h.sample.source == "nlu" else fc
        slot[0] += raised
        slot[1] += 1
    return _frac(r), _frac(fc), _frac(fn)


def format_cv(report: dict[str, Any]) -> str:
    """Human-readable grouped-CV report."""

    def pct(pair: Sequence[int]) -> str:
        return f"{_frac(pair):.3f} ({pair[0]}/{pair[1]})"

    lines = [f"thresholds: T={report['threshold']:.2f} T_high={report['threshold_high']:.2f}",
             f"held-out recall, combined screen: {pct(report['recall_combined'])}",
             f"held-out recall, lexicon alone (tuned on the older sets, not on dev7 or train-c/d/e): "
             f"{pct(report['recall_lexicon'])}",
             f"held-out recall, model alone: {pct(report['recall_model_alone'])}",
             f"held-out critical rated >= high (combined): {pct(report['critical_high_combined'])}",
             f"held-out false flags, benign cases: {pct(report['false_flags_cases'])}",
             f"held-out false flags, NLU examples: {pct(report['false_flags_nlu'])}",
             f"held-out false flags the model adds, benign cases: "
             f"{pct(report['model_added_false_flags_cases'])}",
             f"held-out benign raised to HIGH by the model: {pct(report['false_high_model'])}"]
    for lang, r in report["by_lang"].items():
        lines.append(f"  [{lang}] recall combined {pct(r['recall_combined'])}, model alone "
                     f"{pct(r['recall_model_alone'])}; false flags cases {pct(r['false_flags_cases'])}, "
                     f"NLU {pct(r['false_flags_nlu'])}")
    for tag, pair in report["model_alone_by_tag"].items():
        lines.append(f"  model alone [{tag}]: {pct(pair)}")
    return "\n".join(lines)


# -- training with cache ----------------------------------------------------------------
def default_cache_dir() -> Path:
    base = os.environ.get("CASELINE_DATA_DIR")
    if base:
        return Path(base) / "screen-cache"
    return Path(tempfile.gettempdir()) / "caseline-screen-cache"


def train(tokenize: Tokenize, lexicon: Callable[[Sample], Verdict], lexicon_dir: Path | None = None,
          folds: int = 5) -> RiskModel:
    """Grouped CV for thresholds, then the final model on everything."""
    samples = load_samples(lexicon_dir)
    # NLU examples the lexicon flags are disclosures filed under a help intent: not negatives.
    samples = [s for s in samples if not (s.source == "nlu" and lexicon(s).escalates)]
    _, chosen = cross_validate(samples, tokenize, lexicon, folds)
    model = fit(samples, tokenize)
    model.threshold = float(chosen["threshold"])
    model.threshold_high = float(chosen["threshold_high"])
    model.report = dict(chosen["report"])
    return model


def load_or_train(tokenize: Tokenize, lexicon: Callable[[Sample], Verdict], lexicon_dir: Path | None = None,
                  cache_dir: Path | None = None) -> RiskModel:
    here = Path(__file__).resolve().parent
    # Every module of the screen: the lexicon verdicts (combine.py, lexicon.py ...) pick the
    # thresholds and the negatives, so a change to any of them must retrain.
    code = sorted(here.glob("*.py"))
    key = content_key(f"risk-model:{MODEL_VERSION}", [*training_files(lexicon_dir), *code], here.parent)
    path = (cache_dir or default_cache_dir()) / f"risk-model-{key[:32]}.pkl"
    # Unpickling the vocabulary (over 100,000 features) allocates only long-lived objects; the
    # cyclic collector scanning them again and again doubled the load time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        model = load_pickle(path, RiskModel)
    finally:
        if collecting:
            gc.enable()
    if model is None:
        model = train(tokenize, lexicon, lexicon_dir)
        with contextlib.suppress(OSError):  # a read-only cache dir costs start-up time, never the screen
            save_pickle(path, model)
    return model


