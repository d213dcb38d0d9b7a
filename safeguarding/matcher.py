"""Token-indexed pattern matching, fuzzy token repair and despaced-text segmentation.

Why: one alternation regex over thousands of patterns is slow in Python's ``re`` and
backtracks at every position; indexing patterns by their first token (exact or stem)
makes each message cost a few dictionary look-ups per token, whatever the lexicon size.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Generic, TypeVar

from safeguarding.lexicon import EXACT, GAP, GAP_WORDS, PREFIX, Spec

T = TypeVar("T")
FUZZY_MIN = 6  # only tokens/stems this long are repaired (short words collide: die/dye)
# A stem this short says little about the word it starts ("su*" starts "sucide" and "sunday"),
# so it does not make a word "known" and exempt it from repair; longer stems do.
KNOWN_STEM_MIN = 4
FUZZY_MAX = 24  # longer tokens are not words a child misspelt; bounds the work


def _match(specs: Sequence[Spec], k: int, toks: Sequence[str], i: int,
           blocked: Collection[int]) -> int:
    """End index (exclusive) of the shortest match of specs[k:] at toks[i], or -1."""
    n = len(toks)
    while k < len(specs):
        kind, text = specs[k]
        if kind == GAP:
            for skip in range(GAP_WORDS + 1):
                j = i + skip
                if j > n or (skip and j - 1 in blocked):
                    break
                end = _match(specs, k + 1, toks, j, blocked)
                if end >= 0:
                    return end
            return -1
        if i >= n or i in blocked:
            return -1
        tok = toks[i]
        if (kind == EXACT and tok != text) or (kind == PREFIX and not tok.startswith(text)):
            return -1
        i += 1
        k += 1
    return i


def within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance <= 1."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    i = 0
    while i < min(la, lb) and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1:] == b[i + 1:]:
            return True
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2:] == b[i + 2:]
    if la > lb:
        return a[i + 1:] == b[i:]
    return a[i:] == b[i + 1:]


def _deletes(word: str) -> list[str]:
    """The word and its one-letter deletions, in a fixed order: repair takes the first
    candidate found, so iterating a set (ordered by per-process string hashing) made the
    same message screen differently from one process to the next."""
    return list(dict.fromkeys([word, *(word[:i] + word[i + 1:] for i in range(len(word)))]))


class PatternIndex(Generic[T]):
    """Patterns indexed by first token; also the vocabulary for repair and segmentation."""

    def __init__(self, patterns: Sequence[tuple[tuple[Spec, ...], T]]) -> None:
        self._exact: dict[str, list[tuple[tuple[Spec, ...], T]]] = {}
        self._prefix: dict[str, list[tuple[tuple[Spec, ...], T]]] = {}
        # Patterns whose second token is exact are indexed by their first two tokens: generated
        # patterns share common first words ("my", "he", "мене"), and a one-token index made
        # every such word try hundreds of patterns.
        self._exact2: dict[tuple[str, str], list[tuple[tuple[Spec, ...], T]]] = {}
        self._prefix2: dict[tuple[str, str], list[tuple[tuple[Spec, ...], T]]] = {}
        self.vocab: set[str] = set()
        self.stems: set[str] = set()
        # Everyday words (benign phrases, NLU examples, benign training messages): a real word
        # is what its writer meant, so it is never "repaired" into a risk word one edit away
        # ("пісня" song -> "після", "виклали" -> "викрали", "kiss" -> "kys").
        self.everyday: frozenset[str] = frozenset()
        for specs, payload in patterns:
            if not specs or specs[0][0] == GAP:
                continue
            kind, text = specs[0]
            if len(specs) > 1 and specs[1][0] == EXACT:
                pair = (text, specs[1][1])
                (self._exact2 if kind == EXACT else self._prefix2).setdefault(pair, []).append((specs, payload))
            else:
                (self._exact if kind == EXACT else self._prefix).setdefault(text, []).append((specs, payload))
            for k, t in specs:
                if k == EXACT:
                    self.vocab.add(t)
                elif k == PREFIX:
                    self.stems.add(t)
        self._stem_lengths = sorted({len(s) for s in self._prefix} | {len(s) for s, _ in self._prefix2})
        self._all_stem_lengths = sorted({len(s) for s in self.stems if len(s) >= KNOWN_STEM_MIN})
        self._fuzzy_exact: dict[str, set[str]] = {}
        self._fuzzy_stem: dict[str, set[str]] = {}
        for word in self.vocab:
            if len(word) >= FUZZY_MIN and word.isalpha():
                for d in _deletes(word):
                    self._fuzzy_exact.setdefault(d, set()).add(word)
        for stem in self.stems:
            if len(stem) >= FUZZY_MIN and stem.isalpha():
                for d in _deletes(stem):
                    self._fuzzy_stem.setdefault(d, set()).add(stem)

    def find(self, toks: Sequence[str], blocked: Collection[int] = ()) -> list[tuple[int, int, T]]:
        """All (start, end, payload) matches; a pattern may match at several places.

        The candidate loop is written out twice (exact and stem keys) on purpose: gathering
        the candidate lists first and matching them in one loop cost 6-10% of the screen's
        throughput, which has little headroom over its 5,000 messages/s target.
        """
        found: list[tuple[int, int, T]] = []
        exact, prefix, lengths = self._exact, self._prefix, self._stem_lengths
        exact2, prefix2 = self._exact2, self._prefix2
        n = len(toks)
        for i, tok in enumerate(toks):
            if i in blocked:
                continue
            nxt = toks[i + 1] if i + 1 < n and i + 1 not in blocked else None
            for cands, k in ((exact.get(tok), 1), (exact2.get((tok, nxt)) if nxt is not None else None, 2)):
                if cands:
                    for specs, payload in cands:
                        end = _match(specs, k, toks, i + k, blocked)
                        if end >= 0:
                            found.append((i, end, payload))
            for length in lengths:
                if length > len(tok):
                    break
                stem = tok[:length]
                for cands, k in ((prefix.get(stem), 1), (prefix2.get((stem, nxt)) if nxt is not None else None, 2)):
                    if cands:
                        for specs, payload in cands:
                            end = _match(specs, k, toks, i + k, blocked)
                            if end >= 0:
                                found.append((i, end, payload))
        return found

    def known(self, tok: str) -> bool:
        if tok in self.vocab or tok in self.everyday:
            return True
        return any(tok[:n] in self.stems for n in self._all_stem_lengths if n <= len(tok))

    def repair(self, tok: str) -> str:
        """Map a misspelt token (one edit away from a lexicon word or stem) onto it."""
        if not FUZZY_MIN <= len(tok) <= FUZZY_MAX or not tok.isalpha() or self.known(tok):
            return tok
        for d in _deletes(tok):
            for word in sorted(self._fuzzy_exact.get(d, ())):
                if within_one_edit(tok, word):
                    return word
        for cut in range(FUZZY_MIN - 1, len(tok) + 1):
            head = tok[:cut]
            for d in _deletes(head):
                for stem in sorted(self._fuzzy_stem.get(d, ())):
                    if within_one_edit(head, stem):
                        return stem + tok[cut:]
        return tok

    def segment(self, text: str) -> list[str]:
        """Split despaced text ("iwantodie") into lexicon words; unknown letters stay single.

        Runs of a letter were collapsed, so a word may share its first letter with the
        previous word's last letter ("want"+"to" -> "wanto").
        """
        if len(text) > 200:  # bound the work on hostile input; the rest stays one token
            return [*self.segment(text[:200]), text[200:]]
        n = len(text)
        known = self.vocab.__contains__
        stems = self.stems
        # best[p] = ((covered letters, -words), words) for the prefix text[:p]
        best: list[tuple[tuple[int, int], list[str]] | None] = [None] * (n + 1)
        best[0] = ((0, 0), [])
        for p in range(n):
            cur = best[p]
            if cur is None:
                continue
            (score, neg), words = cur
            starts = [p] + ([p - 1] if words and p > 0 and len(words[-1]) > 1 else [])
            for s in starts:
                for q in range(p + 1, min(n, s + 24) + 1):
                    piece = text[s:q]
                    if len(piece) > 1 and (known(piece) or piece in stems):
                        cand = ((score + q - p, neg - 1), [*words, piece])
                        old = best[q]
                        if old is None or cand[0] > old[0]:
                            best[q] = cand
            skip = ((score, neg - 1), [*words, text[p]])
            old = best[p + 1]
            if old is None or skip[0] > old[0]:
                best[p + 1] = skip
        final = best[n]
        return final[1] if final else [text]
