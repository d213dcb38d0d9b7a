"""Train the intent classifier and score one message with a sparse dot product.

scikit-learn fits a multinomial LogisticRegression (newton-cg: ~5x faster than lbfgs on
this data). Its scores are sharpened by a fixed factor (temperature 1/``sharpen``): with ~30
classes, plain softmax probabilities of a strongly regularised model are so flat that Rasa's
0.3 / 0.1 fallback rule rejected many correct in-scope answers (chosen by cross-validation,
with the held-out out-of-scope rate kept >= 0.80). The fitted weights are kept
as a plain ``(features x classes)`` array, so parsing never calls scikit-learn: it gathers
the rows of the message's features and adds them up.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt

from nlu.entities import EntityExtractor
from nlu.features import FeatureConfig, FloatArray, Vocabulary, build_vocabulary
from nlu.result import Entity

ENGINE_VERSION = "2"


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Everything that changes the trained model (part of the cache key)."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    c: float = 50.0
    max_iter: int = 100
    solver: str = "newton-cg"
    sharpen: float = 2.0  # softmax temperature 1/2, folded into the weights
    entity_features: bool = True

    def as_dict(self) -> dict[str, object]:
        return {"version": ENGINE_VERSION, **asdict(self)}


@dataclass(slots=True)
class TrainedModel:
    labels: tuple[str, ...]
    vocab: Vocabulary
    coef: FloatArray  # (n_features, n_classes), C-contiguous for row gathers
    intercept: FloatArray
    entity_features: bool = True

    def probabilities(self, text: str, extractor: EntityExtractor,
                      entities: Sequence[Entity] | None = None) -> FloatArray:
        """``entities``, when the caller has them already, saves extracting them twice."""
        if not self.entity_features:
            extra: Sequence[str] = ()
        elif entities is None:
            extra = _entity_tokens(extractor, text)
        else:
            extra = [f"<{e.entity}>" for e in entities]
        idx, val = self.vocab.vector(text, extra)
        scores = val @ self.coef[idx] + self.intercept if len(idx) else self.intercept.copy()
        scores = np.exp(scores - scores.max())
        result: FloatArray = scores / scores.sum()
        return result


def _entity_tokens(extractor: EntityExtractor, text: str) -> list[str]:
    return [f"<{e.entity}>" for e in extractor.extract(text)]


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    extractor: EntityExtractor,
    config: EngineConfig,
) -> TrainedModel:
    from sklearn.exceptions import ConvergenceWarning  # lazy: a warm start never needs it
    from sklearn.linear_model import LogisticRegression

    extras = [_entity_tokens(extractor, t) if config.entity_features else [] for t in texts]
    vocab = build_vocabulary(texts, extras, config.features)
    matrix = _matrix(vocab, texts, extras)
    classes = sorted(set(labels))
    clf = LogisticRegression(C=config.c, max_iter=config.max_iter, solver=config.solver)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(matrix, np.asarray([classes.index(y) for y in labels]))
    coef = np.ascontiguousarray(np.asarray(clf.coef_ * config.sharpen, dtype=np.float32).T)
    intercept = np.asarray(clf.intercept_ * config.sharpen, dtype=np.float32)
    if len(classes) == 2:  # binary LR has one weight column: expand to two
        coef = np.ascontiguousarray(np.hstack([-coef / 2, coef / 2]))
        intercept = np.asarray([-intercept[0] / 2, intercept[0] / 2], dtype=np.float32)
    return TrainedModel(tuple(classes), vocab, coef, intercept, config.entity_features)


def _matrix(vocab: Vocabulary, texts: Sequence[str], extras: Sequence[list[str]]) -> object:
    from scipy.sparse import csr_matrix

    rows: list[npt.NDArray[np.int32]] = []
    vals: list[FloatArray] = []
    for text, extra in zip(texts, extras, strict=True):
        idx, val = vocab.vector(text, extra)
        rows.append(idx)
        vals.append(val)
    indptr = np.cumsum([0] + [len(r) for r in rows])
    data = np.concatenate(vals) if vals else np.zeros(0, np.float32)
    indices = np.concatenate(rows) if rows else np.zeros(0, np.int32)
    return csr_matrix((data, indices, indptr), shape=(len(texts), vocab.size))
