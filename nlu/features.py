"""Sparse features for the linear classifier, computed the same way in training and parsing.

Two blocks mirror Rasa's default CountVectorsFeaturizers: word 1-2-grams and ``char_wb``
1-4-grams, each TF-IDF weighted (sublinear tf) and L2-normalised, plus one token per entity
type found (Rasa's RegexFeaturizer). Instead of calling a scikit-learn vectorizer per
message, the vocabulary is a plain dict and each token's char n-gram ids are memoised, so
featurising one message costs a few dozen dict lookups.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from nlu.text import has_cyrillic, normalise, transliterate

_TOKEN = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    word_ngrams: int = 2
    char_min: int = 1
    char_max: int = 4
    translit: bool = True


def tokens(text: str, translit: bool = True) -> list[str]:
    """Word tokens of the normalised text, digits as ``0``; Cyrillic also in Latin."""
    norm = _DIGIT.sub("0", normalise(text))
    words = _TOKEN.findall(norm)
    if translit and has_cyrillic(norm):
        words += [w for w in _TOKEN.findall(transliterate(norm)) if not has_cyrillic(w)]
    return words


def word_grams(words: Sequence[str], n: int) -> list[str]:
    grams = list(words)
    for size in range(2, n + 1):
        grams += [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]
    return grams


def char_grams(word: str, lo: int, hi: int) -> list[str]:
    padded = f" {word} "
    grams: list[str] = []
    for n in range(lo, hi + 1):
        grams += [padded[i : i + n] for i in range(len(padded) - n + 1)]
    return [g for g in grams if g.strip()]


@dataclass(slots=True)
class Vocabulary:
    """Word and char n-gram ids with IDF weights; char ids follow the word ids."""

    config: FeatureConfig
    words: dict[str, int]
    chars: dict[str, int]
    idf: FloatArray
    _char_memo: dict[str, list[int]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.words) + len(self.chars)

    def __getstate__(self) -> tuple[FeatureConfig, dict[str, int], dict[str, int], FloatArray]:
        return self.config, self.words, self.chars, self.idf

    def __setstate__(
        self, state: tuple[FeatureConfig, dict[str, int], dict[str, int], FloatArray]
    ) -> None:
        self.config, self.words, self.chars, self.idf = state
        self._char_memo = {}

    def vector(self, text: str, extra: Iterable[str] = ()) -> tuple[IntArray, FloatArray]:
        """Feature ids and weights of one message (each block L2-normalised)."""
        words = tokens(text, self.config.translit)
        word_ids = Counter(
            i
            for g in [*word_grams(words, self.config.word_ngrams), *extra]
            if (i := self.words.get(g)) is not None
        )
        char_ids: Counter[int] = Counter()
        for w in words:
            char_ids.update(self._char_ids(w))
        return self._weights(word_ids, char_ids)

    def _char_ids(self, word: str) -> list[int]:
        ids = self._char_memo.get(word)
        if ids is None:
            if len(self._char_memo) > 100_000:
                self._char_memo.clear()
            grams = char_grams(word, self.config.char_min, self.config.char_max)
            ids = [i for g in grams if (i := self.chars.get(g)) is not None]
            self._char_memo[word] = ids
        return ids

    def _weights(
        self, word_ids: Counter[int], char_ids: Counter[int]
    ) -> tuple[IntArray, FloatArray]:
        """Sublinear tf times idf, each block L2-normalised; numpy, as this runs per message."""
        idx: list[IntArray] = []
        val: list[npt.NDArray[np.float64]] = []
        for block in (word_ids, char_ids):
            if not block:
                continue
            ids = np.fromiter(block.keys(), dtype=np.int32, count=len(block))
            counts = np.fromiter(block.values(), dtype=np.float64, count=len(block))
            weights = (1.0 + np.log(counts)) * self.idf[ids].astype(np.float64)
            norm = math.sqrt(float(weights @ weights)) or 1.0
            idx.append(ids)
            val.append(weights / norm)
        if not idx:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        return np.concatenate(idx), np.concatenate(val).astype(np.float32)


def build_vocabulary(
    texts: Sequence[str], extras: Sequence[Iterable[str]], config: FeatureConfig
) -> Vocabulary:
    """Collect every n-gram of the training texts and its smoothed IDF (as scikit-learn)."""
    word_df: Counter[str] = Counter()
    char_df: Counter[str] = Counter()
    for text, extra in zip(texts, extras, strict=True):
        words = tokens(text, config.translit)
        word_df.update(set(word_grams(words, config.word_ngrams)) | set(extra))
        char_df.update({g for w in words for g in char_grams(w, config.char_min, config.char_max)})
    words_vocab = {g: i for i, g in enumerate(sorted(word_df))}
    chars_vocab = {g: i + len(words_vocab) for i, g in enumerate(sorted(char_df))}
    n = len(texts)
    dfs = [word_df[g] for g in sorted(word_df)] + [char_df[g] for g in sorted(char_df)]
    idf = np.asarray([math.log((1 + n) / (1 + df)) + 1.0 for df in dfs], dtype=np.float32)
    return Vocabulary(config, words_vocab, chars_vocab, idf)
