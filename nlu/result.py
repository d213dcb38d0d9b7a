"""The NLU port and its result, in the shape of Rasa's ``POST /model/parse`` answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

FALLBACK_INTENT = "nlu_fallback"


@dataclass(frozen=True, slots=True)
class Intent:
    name: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Entity:
    entity: str
    value: str
    start: int
    end: int
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class ParseResult:
    text: str
    intent: Intent
    intent_ranking: tuple[Intent, ...] = ()
    entities: tuple[Entity, ...] = ()

    def entity(self, name: str) -> str | None:
        return next((e.value for e in self.entities if e.entity == name), None)

    def to_rasa(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "intent": {"name": self.intent.name, "confidence": self.intent.confidence},
            "intent_ranking": [
                {"name": i.name, "confidence": i.confidence} for i in self.intent_ranking
            ],
            "entities": [
                {
                    "entity": e.entity,
                    "value": e.value,
                    "start": e.start,
                    "end": e.end,
                    "confidence": e.confidence,
                }
                for e in self.entities
            ],
        }

    @classmethod
    def from_rasa(cls, data: Mapping[str, Any]) -> ParseResult:
        """Read a Rasa server's answer leniently: unknown keys are ignored, gaps defaulted."""
        raw_intent = data.get("intent") or {}
        intent = Intent(
            str(raw_intent.get("name") or FALLBACK_INTENT),
            float(raw_intent.get("confidence") or 0.0),
        )
        ranking = tuple(
            Intent(str(i.get("name")), float(i.get("confidence") or 0.0))
            for i in data.get("intent_ranking") or ()
            if isinstance(i, Mapping) and i.get("name")
        )
        entities = tuple(
            Entity(
                str(e.get("entity")),
                str(e.get("value")),
                int(e.get("start") or 0),
                int(e.get("end") or 0),
                float(e.get("confidence_entity") or e.get("confidence") or 1.0),
            )
            for e in data.get("entities") or ()
            if isinstance(e, Mapping) and e.get("entity")
        )
        return cls(str(data.get("text", "")), intent, ranking, entities)


class Nlu(Protocol):
    """Anything that understands a message: the embedded engine or a Rasa server."""

    async def parse(self, text: str, lang: str | None = None) -> ParseResult: ...
