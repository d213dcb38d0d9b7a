"""Validate the training data before it is trained on: ``file:line: message`` per problem.

Catches what silently degrades a model: unreadable YAML, one example taught as two
intents, thin intents in a language we must serve, annotation typos (undeclared entities),
bad regexes and required intents that nobody wrote yet.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nlu.rasa_data import (
    OOS_INTENT,
    DataError,
    Example,
    NluData,
    data_files,
    display_name,
    read_file,
)
from nlu.text import normalise

REQUIRED_LANGUAGES = ("en", "ru", "uk", "ro", "sr")
OPTIONAL_LANGUAGES = ("tr", "sq", "ar")
MIN_EXAMPLES = 20
REQUIRED_INTENTS = (
    "greet", "goodbye", "thanks", "affirm", "deny", "help", "ask_human", "change_language",
    "stop", "delete_my_data", "parenting_sleep", "parenting_tantrums", "parenting_discipline",
    "parenting_screen_time", "parenting_stress", "parenting_difficult_topics",
    "parenting_teen_communication", "cyber_grooming", "cyber_sextortion", "cyber_bullying",
    "cyber_privacy", "cyber_report", "checkin_start", "probation_officer_contact",
    "probation_next_appointment",
)  # fmt: skip

_PUNCT = re.compile(r"[^\w\s]+")


@dataclass(frozen=True, slots=True)
class Issue:
    where: str
    message: str
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.level == "warning" else ""
        return f"{self.where}: {prefix}{self.message}"


def check_dir(
    data_dir: Path,
    required_languages: Iterable[str] = REQUIRED_LANGUAGES,
    required_intents: Iterable[str] = REQUIRED_INTENTS,
    min_examples: int = MIN_EXAMPLES,
) -> list[Issue]:
    issues: list[Issue] = []
    data = NluData()
    for path, lang in data_files(data_dir):
        try:
            data.merge(read_file(path, lang, display_name(path)))
        except DataError as exc:
            where, _, message = str(exc).partition(": ")
            issues.append(Issue(where, message))
    trained = [e for e in data.examples if e.file.rpartition("/")[2] != "oos_eval.yml"]
    issues += _conflicts(data.examples)
    issues += _unknown_entities(data)
    issues += _bad_regexes(data)
    issues += _coverage(trained, data_dir, tuple(required_languages), min_examples)
    issues += _missing_intents(trained, data_dir, required_intents)
    return issues


def _key(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", normalise(text)).split())


def _conflicts(examples: list[Example]) -> list[Issue]:
    first: dict[str, Example] = {}
    issues = []
    for ex in examples:
        seen = first.setdefault(_key(ex.text), ex)
        if seen.intent != ex.intent:
            issues.append(
                Issue(
                    ex.where,
                    f"{ex.text!r} is under intent {ex.intent!r} and also {seen.intent!r} "
                    f"at {seen.where}",
                )
            )
    return issues


def _unknown_entities(data: NluData) -> list[Issue]:
    declared = data.declared_entities
    return [
        Issue(ex.where, f"unknown entity {ent.entity!r} (declare it in entities.yml)")
        for ex in data.examples
        for ent in ex.entities
        if ent.entity not in declared
    ]


def _bad_regexes(data: NluData) -> list[Issue]:
    issues = []
    for pattern in data.regexes:
        for item in pattern.items:
            try:
                re.compile(item)
            except re.error as exc:
                issues.append(Issue(f"{pattern.file}:{pattern.line}", f"bad regex {item!r}: {exc}"))
    return issues


def _coverage(
    examples: list[Example], data_dir: Path, required: tuple[str, ...], min_examples: int
) -> list[Issue]:
    counts: Counter[tuple[str, str]] = Counter((e.lang, e.intent) for e in examples)
    where: dict[tuple[str, str], str] = {}
    for e in examples:
        where.setdefault((e.lang, e.intent), e.where)
    intents = sorted({e.intent for e in examples} - {OOS_INTENT})
    langs = sorted({e.lang for e in examples if e.lang} | set(required))
    issues = []
    for lang in langs:
        level: Literal["error", "warning"] = "error" if lang in required else "warning"
        for intent in intents:
            n = counts[(lang, intent)]
            if n < min_examples:
                loc = where.get((lang, intent), f"{display_name(data_dir / lang)}:1")
                msg = f"intent {intent!r} has {n} {lang} examples (need {min_examples})"
                issues.append(Issue(loc, msg, level))
    return issues


def _missing_intents(
    examples: list[Example], data_dir: Path, required: Iterable[str]
) -> list[Issue]:
    present = defaultdict(int, Counter(e.intent for e in examples))
    return [
        Issue(f"{display_name(data_dir)}:1", f"required intent {name!r} is missing")
        for name in required
        if not present[name]
    ]
