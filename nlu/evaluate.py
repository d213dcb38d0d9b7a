"""Cross-validation and out-of-scope evaluation, reported like ``rasa test nlu``.

Folds are stratified by language *and* intent over the whole multilingual data, so each
fold trains the same one-model-for-all engine that runs in production, and accuracy can
be broken down per language from the pooled predictions. Fallbacks count as errors, as
in Rasa. Out-of-scope messages are gold ``nlu_fallback``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sklearn.metrics import classification_report
from sklearn.model_selection import StratifiedKFold

from nlu.embedded import EmbeddedNlu, train_on
from nlu.entities import EntityExtractor
from nlu.model import EngineConfig
from nlu.rasa_data import OOS_INTENT, Example, NluData, read_file
from nlu.result import FALLBACK_INTENT, ParseResult


@dataclass(slots=True)
class Prediction:
    example: Example
    result: ParseResult

    @property
    def gold(self) -> str:
        return FALLBACK_INTENT if self.example.intent == OOS_INTENT else self.example.intent

    @property
    def correct(self) -> bool:
        return self.result.intent.name == self.gold


@dataclass(slots=True)
class Evaluation:
    predictions: list[Prediction] = field(default_factory=list)
    oos: list[Prediction] = field(default_factory=list)

    def accuracy(self, lang: str | None = None) -> float:
        rows = [p for p in self.predictions if lang is None or p.example.lang == lang]
        return sum(p.correct for p in rows) / len(rows) if rows else 0.0

    def accuracy_by_language(self) -> dict[str, float]:
        langs = sorted({p.example.lang for p in self.predictions})
        return {lang: self.accuracy(lang) for lang in langs}

    def oos_rate(self, lang: str | None = None) -> float:
        rows = [p for p in self.oos if lang is None or p.example.lang == lang]
        hits = sum(p.result.intent.name == FALLBACK_INTENT for p in rows)
        return hits / len(rows) if rows else 0.0

    def confused_pairs(self, top: int = 10) -> list[tuple[str, str, int]]:
        pairs = Counter((p.gold, p.result.intent.name) for p in self.predictions if not p.correct)
        return [(g, q, n) for (g, q), n in pairs.most_common(top)]


def _strata(examples: list[Example], folds: int) -> list[str]:
    """Language/intent strata; strata smaller than ``folds`` fall back to the intent."""
    keys = [f"{e.lang}/{e.intent}" for e in examples]
    counts = Counter(keys)
    return [k if counts[k] >= folds else e.intent for k, e in zip(keys, examples, strict=True)]


def cross_validate(
    data: NluData,
    folds: int = 5,
    config: EngineConfig | None = None,
    threshold: float = 0.3,
    ambiguity_threshold: float = 0.1,
    seed: int = 42,
) -> Evaluation:
    config = config or EngineConfig()
    extractor = EntityExtractor.from_data(data)
    examples = data.examples
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    result = Evaluation()
    for train_idx, test_idx in splitter.split(examples, _strata(examples, folds)):
        fold = NluData(examples=[examples[i] for i in train_idx])
        model = train_on(fold, extractor, config)
        nlu = EmbeddedNlu(
            model, extractor, threshold=threshold, ambiguity_threshold=ambiguity_threshold
        )
        for i in test_idx:
            ex = examples[i]
            result.predictions.append(Prediction(ex, nlu.parse_sync(ex.text, ex.lang)))
    return result


def evaluate_oos(nlu: EmbeddedNlu, oos_file: Path) -> list[Prediction]:
    held_out = read_file(oos_file, "").examples
    return [Prediction(ex, nlu.parse_sync(ex.text, ex.lang)) for ex in held_out]


def intent_report(predictions: list[Prediction]) -> dict[str, Any]:
    """sklearn's ``classification_report`` dict plus Rasa's ``confused_with`` per intent."""
    gold = [p.gold for p in predictions]
    pred = [p.result.intent.name for p in predictions]
    report: dict[str, Any] = classification_report(gold, pred, output_dict=True, zero_division=0)
    for label, row in report.items():
        if isinstance(row, dict) and label not in ("macro avg", "weighted avg", "micro avg"):
            wrong = Counter(q for g, q in zip(gold, pred, strict=True) if g == label and q != g)
            row["confused_with"] = dict(wrong.most_common(3))
    return report


def intent_errors(predictions: list[Prediction]) -> list[dict[str, Any]]:
    return [
        {
            "text": p.example.text,
            "intent": p.gold,
            "intent_prediction": {
                "name": p.result.intent.name,
                "confidence": p.result.intent.confidence,
            },
            "lang": p.example.lang,
            "source": p.example.where,
        }
        for p in predictions
        if not p.correct
    ]


def write_reports(evaluation: Evaluation, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "intent_report.json": intent_report(evaluation.predictions),
        "intent_errors.json": intent_errors(evaluation.predictions),
        "oos_report.json": {
            "fallback_rate": evaluation.oos_rate(),
            "by_language": {
                lang: evaluation.oos_rate(lang)
                for lang in sorted({p.example.lang for p in evaluation.oos})
            },
            "misses": intent_errors(evaluation.oos),
        },
    }
    for name, content in files.items():
        text = json.dumps(content, ensure_ascii=False, indent=2)
        (out_dir / name).write_text(text + "\n", encoding="utf-8")


def summary(evaluation: Evaluation) -> str:
    lines = [f"accuracy (all): {evaluation.accuracy():.3f} on {len(evaluation.predictions)}"]
    for lang, acc in evaluation.accuracy_by_language().items():
        n = sum(p.example.lang == lang for p in evaluation.predictions)
        lines.append(f"  {lang or '-'}: {acc:.3f} ({n} examples)")
    if evaluation.oos:
        lines.append(f"out-of-scope -> nlu_fallback: {evaluation.oos_rate():.3f}")
        for lang in sorted({p.example.lang for p in evaluation.oos}):
            lines.append(f"  {lang or '-'}: {evaluation.oos_rate(lang):.3f}")
    lines.append("most confused (gold -> predicted: count):")
    lines += [f"  {g} -> {q}: {n}" for g, q, n in evaluation.confused_pairs()]
    return "\n".join(lines)
