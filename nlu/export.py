"""Write a Rasa 3.x project from Caseline's data, for deployments that run a Rasa server.

The project uses Rasa's recommended multilingual pipeline (DIET, char n-grams, the same
0.3 / 0.1 FallbackClassifier), so the remote engine and the embedded one agree on intent
names, entities and fallback behaviour. The held-out OOS evaluation set is not exported.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from nlu.rasa_data import OOS_INTENT, Example, NluData, load_dir
from nlu.result import Entity

PIPELINE: list[dict[str, Any]] = [
    {"name": "WhitespaceTokenizer"},
    {"name": "RegexFeaturizer"},
    {"name": "LexicalSyntacticFeaturizer"},
    {"name": "CountVectorsFeaturizer"},
    {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
    {"name": "DIETClassifier", "epochs": 100, "constrain_similarities": True},
    {"name": "EntitySynonymMapper"},
    {"name": "RegexEntityExtractor", "use_lookup_tables": True, "use_regexes": True},
    {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.1},
]


class _Literal(str):
    """A string dumped as a ``|`` block, like hand-written Rasa data."""


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Literal, _literal)


def annotate(example: Example) -> str:
    """Put entity marks back into an example's text."""
    text = example.text
    for ent in sorted(example.entities, key=lambda e: e.start, reverse=True):
        text = text[: ent.start] + _mark(text[ent.start : ent.end], ent) + text[ent.end :]
    return text


def _mark(surface: str, ent: Entity) -> str:
    if ent.value == surface:
        return f"[{surface}]({ent.entity})"
    return f'[{surface}]{{"entity": "{ent.entity}", "value": "{ent.value}"}}'


def _block(lines: list[str]) -> _Literal:
    return _Literal("".join(f"- {line}\n" for line in lines))


def nlu_items(data: NluData) -> list[dict[str, Any]]:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for ex in data.examples:
        by_intent[ex.intent].append(annotate(ex))
    items: list[dict[str, Any]] = [
        {"intent": name, "examples": _block(list(dict.fromkeys(rows)))}
        for name, rows in by_intent.items()
    ]
    by_value: dict[str, list[str]] = defaultdict(list)
    for surface, value in sorted(data.synonyms.items()):
        by_value[value].append(surface)
    items += [{"synonym": v, "examples": _block(s)} for v, s in sorted(by_value.items())]
    for kind, patterns in (("regex", data.regexes), ("lookup", data.lookups)):
        merged: dict[str, list[str]] = defaultdict(list)
        for p in patterns:
            merged[p.name] += p.items
        items += [{kind: n, "examples": _block(list(dict.fromkeys(v)))} for n, v in merged.items()]
    return items


def export_rasa(data_dir: Path, out_dir: Path) -> list[Path]:
    """Write ``config.yml``, ``domain.yml`` and ``data/nlu.yml``; return the paths."""
    data = load_dir(data_dir)
    intents = sorted({e.intent for e in data.examples})
    if OOS_INTENT in intents:  # Rasa's own convention: an ordinary intent the bot handles
        intents.remove(OOS_INTENT)
        intents.append(OOS_INTENT)
    files = {
        out_dir / "config.yml": {
            "recipe": "default.v1",
            "language": "xx",
            "pipeline": PIPELINE,
            "policies": [{"name": "RulePolicy"}],
            "assistant_id": "caseline",
        },
        out_dir / "domain.yml": {
            "version": "3.1",
            "intents": intents,
            "entities": sorted(data.declared_entities | _annotated(data)),
        },
        out_dir / "data" / "nlu.yml": {"version": "3.1", "nlu": nlu_items(data)},
    }
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.dump(content, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=200)
        path.write_text(text, encoding="utf-8")
    return list(files)


def _annotated(data: NluData) -> set[str]:
    return {ent.entity for ex in data.examples for ent in ex.entities}
