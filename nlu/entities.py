"""Entities from the training data's ``regex``, ``lookup`` and ``synonym`` entries.

This is Rasa's RegexEntityExtractor + EntitySynonymMapper without the CRF/DIET tagger:
deterministic, multilingual through the data, and cheap. Patterns run on normalised text
and spans are mapped back to the original, so ``start``/``end`` index what the user typed.
A regex with a capture group reports the group ("my 4 year old" -> "4").
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from nlu.rasa_data import NluData
from nlu.result import Entity
from nlu.text import normalise, normalise_with_offsets

_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen"
)
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(_NUMBERS.split())}


@dataclass(frozen=True, slots=True)
class _Rule:
    entity: str
    pattern: re.Pattern[str]


class EntityExtractor:
    def __init__(self, rules: list[_Rule], synonyms: dict[str, str]) -> None:
        self._rules = rules
        self._synonyms = synonyms

    @classmethod
    def from_data(cls, data: NluData) -> EntityExtractor:
        synonyms = {normalise(k): v for k, v in data.synonyms.items()}
        rules = [
            _Rule(p.name, re.compile(item))
            for p in data.regexes
            for item in dict.fromkeys(p.items)
            if _compiles(item)
        ]
        surfaces: dict[str, set[str]] = defaultdict(set)
        for lookup in data.lookups:
            values = {normalise(v) for v in lookup.items if v}
            surfaces[lookup.name] |= values
            surfaces[lookup.name] |= {k for k, v in synonyms.items() if normalise(v) in values}
        for name, forms in sorted(surfaces.items()):
            if forms:
                rules.append(_Rule(name, _lookup_pattern(forms)))
        return cls(rules, synonyms)

    @property
    def names(self) -> set[str]:
        return {r.entity for r in self._rules}

    def extract(self, text: str) -> tuple[Entity, ...]:
        norm, offsets = normalise_with_offsets(text)
        found: list[Entity] = []
        taken: list[tuple[int, int]] = []
        for rule in self._rules:
            for m in rule.pattern.finditer(norm):
                group = 1 if m.re.groups and m.group(1) is not None else 0
                lo, hi = m.span(group)
                if lo == hi or any(lo < b and a < hi for a, b in taken):
                    continue
                value = self._value(rule.entity, m.group(group))
                if value is None:
                    continue
                taken.append((lo, hi))
                found.append(Entity(rule.entity, value, offsets[lo], offsets[hi]))
        return tuple(sorted(found, key=lambda e: e.start))

    def _value(self, entity: str, surface: str) -> str | None:
        surface = re.sub(r"[\s\-]+", " ", surface.strip())
        value = self._synonyms.get(surface) or _NUMBER_WORDS.get(surface) or surface
        if entity == "child_age" and not (value.isdigit() and 0 <= int(value) <= 25):
            return None
        return value


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _lookup_pattern(forms: set[str]) -> re.Pattern[str]:
    alternatives = sorted(forms, key=lambda f: (-len(f), f))
    body = "|".join(re.escape(f).replace(r"\ ", r"[\s\-]*") for f in alternatives)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)")
