"""Placeholder NLU (foundation): keyword intents; replaced by the trained engine."""

from __future__ import annotations

from pathlib import Path

from nlu.result import FALLBACK_INTENT, Intent, ParseResult

_KEYWORDS = {"hi": "greet", "hello": "greet", "bye": "goodbye", "thanks": "thanks"}


class EmbeddedNlu:
    @classmethod
    def load(cls, data_dir: Path | None = None, cache_dir: Path | None = None) -> EmbeddedNlu:
        return cls()

    def parse_sync(self, text: str, lang: str | None = None) -> ParseResult:
        name = _KEYWORDS.get(text.strip().casefold(), FALLBACK_INTENT)
        intent = Intent(name, 1.0 if name != FALLBACK_INTENT else 0.0)
        return ParseResult(text, intent, (intent,))

    async def parse(self, text: str, lang: str | None = None) -> ParseResult:
        return self.parse_sync(text, lang)
