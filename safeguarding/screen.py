"""Deterministic multilingual risk screen: the first, always-on safeguarding layer.

Why: a child's disclosure must be recognised in the same turn, whatever language, script
or disguise it is written in, and a generative model must never be the only thing between
a child and help. Every message is matched against ALL languages' lexicons (children switch
language mid-sentence), over a rolling window of the contact's last five messages so that
disclosures split across messages ("my uncle" ... "he touches me at night") and grooming
signals spread over a conversation are caught. Negation lowers severity one step but never
clears a hit.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from caseline.pickle_cache import content_key, load_pickle, save_pickle
from safeguarding.combine import Evidence, combine
from safeguarding.lexicon import EXACT, Pattern, Problem, Spec, load_dir
from safeguarding.matcher import FUZZY_MIN, PatternIndex
from safeguarding.model import (
    HISTORY,
    RiskModel,
    Sample,
    default_cache_dir,
    load_or_train,
    load_samples,
    raise_verdict,
    score,
    training_files,
)
from safeguarding.normalise import Normaliser
from safeguarding.verdict import NO_RISK, Match, Severity, Verdict

# Among equally severe categories, the more specific one leads (it picks the response):
# an image threat is sextortion before grooming; forced labour/crime before sexual abuse.
PRECEDENCE: dict[str, int] = {
    "immediate_danger": 0,
    "sextortion": 1,
    "trafficking": 2,
    "exploitation": 3,
    "suicide": 4,
    "sexual_abuse": 5,
    "domestic_violence": 6,
    "physical_abuse": 7,
    "caregiver_risk": 8,
    "violence_to_others": 9,
    "self_harm": 10,
    "grooming": 11,
    "neglect": 12,
    "runaway": 13,
    "bullying": 14,
}
WINDOW = 5  # previous messages considered with the current one
NEG_REACH = 3  # words allowed between a negation cue and the match


@dataclass(frozen=True, slots=True)
class _Tok:
    text: str
    start: int
    end: int
    msg: int  # index in the window; the current message is the last


class RiskScreen:
    """Compiled lexicons plus per-instance caches; build once with :meth:`load`."""

    def __init__(
        self,
        patterns: Sequence[Pattern],
        benign: Sequence[tuple[Spec, ...]],
        negation: set[str],
        negation_aux: set[str],
        normaliser: Normaliser,
        problems: Sequence[Problem] = (),
        everyday: Collection[str] = (),
    ) -> None:
        self._norm = normaliser
        self._index: PatternIndex[Pattern] = PatternIndex([(p.specs, p) for p in patterns])
        self._index.everyday = frozenset(everyday).union(t for s in benign for k, t in s if k == EXACT)
        # Message tokens are fuzzily repaired towards risk words before matching, so benign
        # phrases are repaired the same way ("про торговлю" must still mask "торговлю").
        repaired = [tuple((k, self._index.repair(t) if k == EXACT else t) for k, t in s) for s in benign]
        self._benign: PatternIndex[int] = PatternIndex([(s, i) for i, s in enumerate(repaired)])
        self._negation = frozenset(negation)
        self._aux = frozenset(negation_aux)
        self._tok_cache: dict[str, tuple[_Tok, ...]] = {}
        self._repair_cache: dict[str, str] = {}
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.pattern_count = len(patterns)
        self.model: RiskModel | None = None

    @classmethod
    def load(cls, lexicon_dir: Path | None = None, model_cache: Path | None = None,
             use_model: bool = True) -> RiskScreen:
        """Load every ``*.yml`` lexicon; broken entries are skipped and kept in ``problems``.

        The compiled lexicons are cached beside the model (1.6 s to compile, 0.2 s to load).
        With ``use_model`` the learned second layer is loaded from ``model_cache`` (default
        ``$CASELINE_DATA_DIR/screen-cache`` or a temp dir), trained there first if missing.
        """
        # Compiling tens of thousands of patterns (or unpickling them) allocates only long-lived
        # objects; letting the cyclic collector scan them again and again took a third of the time.
        collecting = gc.isenabled()
        gc.disable()
        try:
            screen = cls._compiled(lexicon_dir, model_cache or default_cache_dir())
        finally:
            if collecting:
                gc.enable()
        if use_model:
            screen.model = load_or_train(screen.model_tokens, screen.lexicon_sample, lexicon_dir, model_cache)
        return screen

    @classmethod
    def _compiled(cls, lexicon_dir: Path | None, cache_dir: Path) -> RiskScreen:
        """The lexicons compiled, from the cache when the files and this code are unchanged."""
        files = training_files(lexicon_dir)  # the lexicons and the texts everyday_words reads
        code = sorted(Path(__file__).resolve().parent.glob("*.py"))
        path = cache_dir / f"lexicons-{content_key('lexicons:2', [*files, *code])[:32]}.pkl"
        cached = load_pickle(path, cls)
        if cached is not None:
            return cached
        norm = Normaliser()
        lexicons, problems = load_dir(lexicon_dir, norm)
        patterns = [p for lex in lexicons for p in lex.patterns]
        benign = [specs for lex in lexicons for specs, _, _ in lex.benign]
        negation = set().union(*(lex.negation for lex in lexicons)) if lexicons else set()
        aux = set().union(*(lex.negation_aux for lex in lexicons)) if lexicons else set()
        screen = cls(patterns, benign, negation, aux, norm, problems, everyday_words(norm, lexicon_dir))
        with contextlib.suppress(OSError):  # a read-only cache dir costs start-up time, never the screen
            save_pickle(path, screen)
        return screen

    def model_tokens(self, text: str) -> list[str]:
        """The skeleton tokens the model reads (the same repaired tokens the lexicon matches)."""
        return [t.text for t in self._tokens(text, 0)]

    def lexicon_sample(self, sample: Sample) -> Verdict:
        return self.screen_lexicon(sample.text, sample.lang, sample.history)

    # -- tokens -----------------------------------------------------------------------
    def _tokens(self, text: str, msg: int) -> list[_Tok]:
        cached = self._tok_cache.get(text)
        if cached is None:
            if len(self._tok_cache) > 50_000:
                self._tok_cache.clear()
            cached = tuple(self._build_tokens(text))
            self._tok_cache[text] = cached
        if msg == 0:
            return list(cached)
        return [_Tok(t.text, t.start, t.end, msg) for t in cached]

    def _build_tokens(self, text: str) -> list[_Tok]:
        out: list[_Tok] = []
        for tok in self._norm.tokens(text):
            if tok.joined:
                for piece in self._index.segment(tok.text):
                    out.append(_Tok(self._repair(piece), tok.start, tok.end, 0))
            else:
                out.append(_Tok(self._repair(tok.text), tok.start, tok.end, 0))
        return out

    def _repair(self, tok: str) -> str:
        hit = self._repair_cache.get(tok)
        if hit is None:
            if len(self._repair_cache) > 200_000:
                self._repair_cache.clear()
            hit = self._index.repair(tok)
            self._repair_cache[tok] = hit
        return hit

    # -- screening --------------------------------------------------------------------
    def screen(self, text: str, lang: str | None = None, history: Sequence[str] = ()) -> Verdict:
        """Screen ``text`` in the context of ``history`` (the contact's earlier messages).

        The lexicon decides first; the model can only raise the verdict (reference §3.3). On a
        verdict already high it may add its category, never change the severity.
        """
        verdict = self.screen_lexicon(text, lang, history)
        model = self.model
        if model is None or not _has_words(text):
            return verdict
        # On a verdict already high the model only names a category: the current message is enough.
        scores = score(model, self.model_tokens, text, history if verdict.severity < Severity.HIGH else ())
        raised, via_window = scores.flagged(model.threshold)
        if not raised:
            return verdict
        past = [h for h in history[-HISTORY:] if isinstance(h, str) and h.strip()]
        basis = " ".join([*past, text]) if via_window else text
        category = model.category(self.model_tokens(basis))
        return raise_verdict(verdict, text, scores, category, model.threshold, model.threshold_high)

    def screen_lexicon(self, text: str, lang: str | None = None, history: Sequence[str] = ()) -> Verdict:
        """The deterministic layer alone."""
        past = [h for h in history[-WINDOW:] if isinstance(h, str)]
        cur = len(past)
        toks: list[_Tok] = []
        for i, msg in enumerate(past):
            toks.extend(self._tokens(msg, i))
        first_cur = len(toks)
        toks.extend(self._tokens(text, cur))
        words = [t.text for t in toks]
        blocked = {i for s, e, _ in self._benign.find(words) for i in range(s, e)}
        evidence: list[Evidence] = []
        for s, e, pat in self._index.find(words, blocked):
            evidence.append(self._evidence(toks, words, s, e, pat, first_cur, blocked))
        if not evidence:
            return NO_RISK
        evidence.extend(combine(evidence))
        return self._verdict(evidence)

    def _evidence(
        self,
        toks: Sequence[_Tok],
        words: Sequence[str],
        s: int,
        e: int,
        pat: Pattern,
        first_cur: int,
        blocked: set[int],
    ) -> Evidence:
        entry = pat.entry
        current = e > first_cur
        rule = entry.id
        severity = entry.severity
        if s < first_cur:
            rule = f"window:{rule}"
        if severity >= Severity.HIGH and self._negated(toks, words, s):
            severity = Severity(max(Severity.MEDIUM, severity - 1))
            rule = f"{rule}~negated"
        lo = max(s, first_cur) if current else s
        return Evidence(toks[lo].start, toks[e - 1].end, rule, entry.category, severity,
                        entry.signal, current)

    def _negated(self, toks: Sequence[_Tok], words: Sequence[str], s: int) -> bool:
        msg = toks[s].msg
        j = s - 1
        steps = 0
        while j >= 0 and toks[j].msg == msg and steps <= NEG_REACH:
            if words[j] in self._negation:
                return True
            if words[j] not in self._aux:
                return False
            j -= 1
            steps += 1
        return False

    @staticmethod
    def _verdict(evidence: Sequence[Evidence]) -> Verdict:
        shown = [ev for ev in evidence if ev.current and ev.severity > Severity.NONE]
        if not shown:
            return NO_RISK
        shown.sort(key=lambda ev: (ev.start, -ev.severity))
        seen: set[tuple[int, int, str]] = set()
        unique = []
        for ev in shown:  # the same phrase in several lexicons is one piece of evidence
            key = (ev.start, ev.end, ev.category)
            if key not in seen:
                seen.add(key)
                unique.append(ev)
        shown = unique
        matches = tuple(
            Match(ev.start, ev.end, ev.rule, ev.category, ev.severity) for ev in shown
        )
        ranked = sorted(range(len(shown)),
                        key=lambda i: (-shown[i].severity, PRECEDENCE.get(shown[i].category, 99), i))
        categories = tuple(dict.fromkeys(shown[i].category for i in ranked))
        return Verdict(max(ev.severity for ev in shown), categories, matches)


def _has_words(text: str) -> bool:
    """The model reads language; a bare answer ("3", "ok", a button title) gives it nothing.

    Without this guard it flagged typed ages, the answers flows ask for, as suicide risk.
    The lexicon still screens every message, short ones included.
    """
    return sum(any(ch.isalpha() for ch in word) for word in text.split()) >= 2


def everyday_words(norm: Normaliser, lexicon_dir: Path | None = None) -> set[str]:
    """Words of the benign training texts (NLU examples, benign cases and phrases), as the
    screen tokenises them: long enough to be repaired, so worth exempting from repair."""
    words: set[str] = set()
    for sample in load_samples(lexicon_dir):
        if not sample.risk:
            words.update(t.text for t in norm.tokens(sample.text)
                         if not t.joined and len(t.text) >= FUZZY_MIN and t.text.isalpha())
    return words
