"""The in-memory shape of validated flow content, and the limits content must respect.

Flows stay close to their YAML: a node keeps its raw mapping and the node-kind
registry (``flows.nodes``) interprets it, so adding a kind never touches this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SPEC_VERSION = 2
REQUIRED_LANGS: tuple[str, ...] = ("en", "ru", "uk", "ro", "sr")
MIN_CONFIDENCE = 0.5

# Channel limits (the strictest platform wins; see flows/README.md).
MAX_BUTTONS = 3  # WhatsApp reply buttons
MAX_BUTTON_TITLE = 20  # WhatsApp reply button title
MAX_LIST_ROWS = 10  # WhatsApp list message
MAX_ROW_TITLE = 24  # WhatsApp list row title
MAX_PAYLOAD_BYTES = 64  # Telegram callback_data
MAX_STACK = 8

# Contact fields that hold the consent record: the notice version agreed to, and when (UTC).
CONSENT_VERSION_FIELD = "consent_version"
CONSENT_AT_FIELD = "consent_at"

Text = str | Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Node:
    """One step of a flow; ``data`` is the node's YAML mapping after migration."""

    id: str
    type: str
    data: Mapping[str, Any]
    index: int

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


@dataclass(frozen=True, slots=True)
class Flow:
    """One version of one flow; ``rev`` identifies the exact content it was built from."""

    id: str
    version: int
    rev: str
    default_lang: str
    name: Text
    nodes: Mapping[str, Node]
    order: tuple[str, ...]
    file: str = ""
    sources: tuple[Mapping[str, str], ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def start(self) -> str:
        return self.order[0]

    def following(self, node_id: str) -> str | None:
        """The node after ``node_id`` in file order: the default ``next``."""
        i = self.order.index(node_id) + 1
        return self.order[i] if i < len(self.order) else None

    def next_of(self, node: Node) -> str | None:
        explicit = node.get("next")
        return str(explicit) if explicit else self.following(node.id)


@dataclass(frozen=True, slots=True)
class GlobalCommand:
    """A command that works in every state (menu, help, stop, ...)."""

    id: str
    flow: str
    mode: str
    intents: tuple[str, ...] = ()
    words: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    before_onboarding: bool = False

    @property
    def payload(self) -> str:
        return f"g.{self.id}"


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Content-wide settings from ``_config.yml``.

    ``consent_version`` is the privacy notice version a contact must have agreed to
    before any flow but onboarding and the ``before_onboarding`` globals runs for them;
    None means the content asks for no consent (small test contents do without).
    """

    default_lang: str
    languages: tuple[str, ...]
    onboarding_flow: str
    main_flow: str
    onboarded_fields: tuple[str, ...]
    retry_text: Text
    globals: tuple[GlobalCommand, ...]
    intents: Mapping[str, str]
    consent_version: int | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> EngineConfig:
        commands = tuple(
            GlobalCommand(
                id=g["id"],
                flow=g["flow"],
                mode=g["mode"],
                intents=tuple(g.get("intents", ())),
                words={k: tuple(v) for k, v in g.get("words", {}).items()},
                before_onboarding=bool(g.get("before_onboarding", False)),
            )
            for g in data["globals"]
        )
        return cls(
            default_lang=data["default_lang"],
            languages=tuple(data["languages"]),
            onboarding_flow=data["onboarding_flow"],
            main_flow=data["main_flow"],
            onboarded_fields=tuple(data["onboarded_fields"]),
            retry_text=data["retry_text"],
            globals=commands,
            intents=dict(data["intents"]),
            consent_version=data.get("consent_version"),
        )


def localize(text: Text, lang: str, default_lang: str) -> str:
    """The text in ``lang``, else in the default language, else any language it has."""
    if isinstance(text, str):
        return text
    for candidate in (lang, default_lang):
        if candidate in text:
            return text[candidate]
    return next(iter(text.values()), "")


def button_payload(node_id: str, choice_id: str) -> str:
    """The payload a button sends back: short, stable, unique within a flow."""
    return f"{node_id}.{choice_id}"
