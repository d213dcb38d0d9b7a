"""Global commands (menu, help, stop, delete my data, change language) and intent jumps.

These are recognised in every state before a waiting question sees the input: by
button payload (``g.<id>``), by NLU intent, or by the exact word in the contact's
language (or the content's default language).
"""

from __future__ import annotations

import re

from flows.events import FlowInput
from flows.spec import MIN_CONFIDENCE, EngineConfig, GlobalCommand


def normalise(text: str) -> str:
    return re.sub(r"[\s!.?,;:]+", " ", text.casefold()).strip()


def confident_intent(inp: FlowInput) -> str | None:
    return inp.intent if inp.intent and inp.intent_confidence >= MIN_CONFIDENCE else None


def detect(config: EngineConfig, inp: FlowInput, lang: str) -> GlobalCommand | None:
    intent = confident_intent(inp)
    typed = normalise(inp.text) if inp.text else None
    for command in config.globals:
        if inp.payload == command.payload or (intent and intent in command.intents):
            return command
        if typed and typed in _words(command, lang, config.default_lang):
            return command
    return None


def _words(command: GlobalCommand, lang: str, default_lang: str) -> set[str]:
    words = list(command.words.get(lang, ())) + list(command.words.get(default_lang, ()))
    return {normalise(w) for w in words}


def intent_flow(config: EngineConfig, inp: FlowInput) -> str | None:
    """The flow a confident intent points to, if the content maps it to one."""
    intent = confident_intent(inp)
    return config.intents.get(intent) if intent else None
