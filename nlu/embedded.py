"""The in-process NLU engine: a Rasa-like pipeline without Rasa or TensorFlow.

Trains one multilingual model on ``nlu/data/<lang>/*.yml`` (word + char n-grams, linear
classifier), extracts entities from the data's regexes, lookups and synonyms, and applies
Rasa's FallbackClassifier rule. An internal ``out_of_scope`` class, trained on
``out_of_scope.yml`` files, is reported as ``nlu_fallback`` so that chatter about other
topics is not forced into the nearest safeguarding intent.
"""

from __future__ import annotations

import time
from pathlib import Path

from nlu import cache
from nlu.entities import EntityExtractor
from nlu.model import EngineConfig, TrainedModel, train
from nlu.rasa_data import OOS_INTENT, NluData, load_dir
from nlu.result import FALLBACK_INTENT, Intent, ParseResult

DATA_DIR = Path(__file__).parent / "data"
RANKING_SIZE = 10


class EmbeddedNlu:
    def __init__(
        self,
        model: TrainedModel,
        extractor: EntityExtractor,
        *,
        threshold: float = 0.3,
        ambiguity_threshold: float = 0.1,
    ) -> None:
        self.model = model
        self.extractor = extractor
        self.threshold = threshold
        self.ambiguity_threshold = ambiguity_threshold
        self.from_cache = False
        self.cache_path: Path | None = None
        self.load_seconds = 0.0

    @classmethod
    def load(
        cls,
        data_dir: Path | None = None,
        cache_dir: Path | None = None,
        *,
        threshold: float = 0.3,
        ambiguity_threshold: float = 0.1,
        config: EngineConfig | None = None,
    ) -> EmbeddedNlu:
        """Load from ``cache_dir`` when the data and config are unchanged, else train."""
        started = time.perf_counter()
        data_dir = data_dir or DATA_DIR
        config = config or EngineConfig()
        data = load_dir(data_dir)
        extractor = EntityExtractor.from_data(data)
        path = cache.cache_path(cache_dir, cache.cache_key(data_dir, config)) if cache_dir else None
        model = cache.load(path) if path and path.exists() else None
        from_cache = model is not None
        if model is None:
            model = train_on(data, extractor, config)
            if path:
                cache.save(path, model)
        nlu = cls(model, extractor, threshold=threshold, ambiguity_threshold=ambiguity_threshold)
        nlu.from_cache, nlu.cache_path = from_cache, path
        nlu.load_seconds = time.perf_counter() - started
        return nlu

    def parse_sync(self, text: str, lang: str | None = None) -> ParseResult:
        """Classify one message; ``lang`` is accepted for the port but the model is shared."""
        entities = self.extractor.extract(text)
        probs = self.model.probabilities(text, self.extractor, entities)
        # The ranking reports RANKING_SIZE real intents; one more covers out_of_scope in the top.
        order = probs.argsort()[::-1][: RANKING_SIZE + 1]
        labels = self.model.labels
        ranking = [Intent(labels[i], round(float(probs[i]), 6)) for i in order]
        return ParseResult(text, *self._decide(ranking), entities)

    async def parse(self, text: str, lang: str | None = None) -> ParseResult:
        return self.parse_sync(text, lang)

    def _decide(self, ranking: list[Intent]) -> tuple[Intent, tuple[Intent, ...]]:
        top = ranking[0]
        gap = top.confidence - ranking[1].confidence if len(ranking) > 1 else 1.0
        real = [i for i in ranking if i.name != OOS_INTENT]
        if top.name == OOS_INTENT:
            fallback = Intent(FALLBACK_INTENT, top.confidence)
        elif top.confidence < self.threshold or gap < self.ambiguity_threshold:
            fallback = Intent(FALLBACK_INTENT, self.threshold)
        else:
            return top, tuple(real[:RANKING_SIZE])
        return fallback, (fallback, *real[: RANKING_SIZE - 1])


def train_on(data: NluData, extractor: EntityExtractor, config: EngineConfig) -> TrainedModel:
    if not data.examples:
        raise ValueError("no training examples found")
    texts = [e.text for e in data.examples]
    return train(texts, [e.intent for e in data.examples], extractor, config)
