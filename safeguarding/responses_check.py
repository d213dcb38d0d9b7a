"""Validate the safety-reply files in ``safeguarding/responses/`` before they reach a child.

Why: those files are edited by translators and child-protection reviewers, not programmers. A
missing key, a renamed ``{placeholder}`` or a button title longer than a channel allows would
otherwise surface only at the worst moment, in the middle of a disclosure. This checker reports
every problem as ``file:line: message`` so a reviewer can fix it in any editor, and exits
non-zero so CI blocks the change.

Run: ``python -m safeguarding.responses_check [responses_dir]``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from safeguarding.respond import (
    BUTTON_KEYS,
    FALLBACK_LANG,
    MAX_BUTTON_TITLE,
    RESPONSES_DIR,
    STRING_PLACEHOLDERS,
    WORD_LIST_KEYS,
    normalise,
    placeholders,
)

TOP_LEVEL_KEYS: tuple[str, ...] = ("language", "name", *WORD_LIST_KEYS, "buttons", "strings")


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    line: int  # 1-based
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _mapping(node: MappingNode) -> dict[str, tuple[Node, Node]]:
    """Key text -> (key node, value node)."""
    return {str(k.value): (k, v) for k, v in node.value if isinstance(k, ScalarNode)}


def check_file(path: Path) -> list[Problem]:
    """All problems in one responses file."""
    problems: list[Problem] = []

    def add(line: int, message: str) -> None:
        problems.append(Problem(path, line, message))

    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        add(int(mark.line) + 1 if mark is not None else 1, f"invalid YAML: {exc}")
        return problems
    if not isinstance(root, MappingNode):
        add(1, "expected a mapping at the top level")
        return problems
    top = _mapping(root)
    for key in TOP_LEVEL_KEYS:
        if key not in top:
            add(_line(root), f"missing key '{key}'")

    if "language" in top:
        key_node, value = top["language"]
        if not isinstance(value, ScalarNode) or str(value.value) != path.stem:
            add(_line(value), f"'language' must be '{path.stem}' (the file name)")

    all_words: dict[str, str] = {}
    for list_key in WORD_LIST_KEYS:
        if list_key not in top:
            continue
        key_node, value = top[list_key]
        if not isinstance(value, SequenceNode) or not value.value:
            add(_line(key_node), f"'{list_key}' must be a non-empty list")
            continue
        for item in value.value:
            if not isinstance(item, ScalarNode) or not normalise(str(item.value)):
                add(_line(item), f"'{list_key}' entries must be non-empty text")
                continue
            word = normalise(str(item.value))
            other = all_words.get(word)
            if other is not None and other != list_key:
                add(_line(item), f"'{item.value}' is in both '{other}' and '{list_key}'")
            all_words.setdefault(word, list_key)

    if "buttons" in top:
        key_node, value = top["buttons"]
        if not isinstance(value, MappingNode):
            add(_line(key_node), "'buttons' must be a mapping")
        else:
            buttons = _mapping(value)
            for key in BUTTON_KEYS:
                if key not in buttons:
                    add(_line(key_node), f"missing key 'buttons.{key}'")
            for key, (bkey, bvalue) in buttons.items():
                if key not in BUTTON_KEYS:
                    add(_line(bkey), f"unknown button '{key}'")
                    continue
                title = str(bvalue.value) if isinstance(bvalue, ScalarNode) else ""
                if not title.strip():
                    add(_line(bvalue), f"button '{key}' has no title")
                elif len(title) > MAX_BUTTON_TITLE:
                    add(_line(bvalue), f"button '{key}' title is {len(title)} characters "
                        f"(max {MAX_BUTTON_TITLE}): {title!r}")

    if "strings" in top:
        key_node, value = top["strings"]
        if not isinstance(value, MappingNode):
            add(_line(key_node), "'strings' must be a mapping")
        else:
            strings = _mapping(value)
            for key in STRING_PLACEHOLDERS:
                if key not in strings:
                    add(_line(key_node), f"missing key 'strings.{key}'")
            for key, (skey, svalue) in strings.items():
                if key not in STRING_PLACEHOLDERS:
                    add(_line(skey), f"unknown string '{key}'")
                    continue
                text = str(svalue.value) if isinstance(svalue, ScalarNode) else ""
                if not text.strip():
                    add(_line(svalue), f"string '{key}' is empty")
                    continue
                try:
                    found = placeholders(text)
                except ValueError as exc:
                    add(_line(svalue), f"string '{key}' has a broken placeholder: {exc}")
                    continue
                expected = STRING_PLACEHOLDERS[key]
                if found != expected:
                    add(_line(svalue), f"string '{key}' uses placeholders {sorted(found)}, "
                        f"expected {sorted(expected)}")
    return problems


def check_dir(responses_dir: Path = RESPONSES_DIR) -> list[Problem]:
    """All problems in every responses file; the fallback language must exist."""
    problems: list[Problem] = []
    if not (responses_dir / f"{FALLBACK_LANG}.yml").exists():
        problems.append(Problem(responses_dir / f"{FALLBACK_LANG}.yml", 1,
                                "fallback language file is missing"))
    for path in sorted(responses_dir.glob("*.yml")):
        problems += check_file(path)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    responses_dir = Path(args[0]) if args else RESPONSES_DIR
    problems = check_dir(responses_dir)
    for problem in problems:
        sys.stdout.write(f"{problem}\n")
    count = len(list(responses_dir.glob("*.yml")))
    sys.stderr.write(f"{count} file(s) checked, {len(problems)} problem(s)\n")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
