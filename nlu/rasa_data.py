"""Read Rasa 3.x NLU YAML without Rasa (it won't install on Python 3.11).

Every example keeps its file and line so the checker and the evaluation can point at the
exact source line; lines come from PyYAML node marks, and an example inside an
``examples: |`` block is the block's first line plus its offset within the block.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nlu.result import Entity

OOS_INTENT = "out_of_scope"
ENTITIES_FILE = "entities.yml"

_ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<name>[^)]+)\)|(?P<json>\{[^}]*\}))")


class DataError(Exception):
    """A file can't be read as Rasa NLU YAML; the message starts with ``file:line:``."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    intent: str
    lang: str
    file: str
    line: int
    entities: tuple[Entity, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Pattern:
    """A ``regex`` or ``lookup`` entry: a name and its lines, with where it was found."""

    name: str
    items: tuple[str, ...]
    file: str
    line: int


@dataclass(slots=True)
class NluData:
    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)
    regexes: list[Pattern] = field(default_factory=list)
    lookups: list[Pattern] = field(default_factory=list)
    declared_entities: set[str] = field(default_factory=set)
    files: list[Path] = field(default_factory=list)

    def merge(self, other: NluData) -> None:
        self.examples.extend(other.examples)
        self.synonyms.update(other.synonyms)
        self.regexes.extend(other.regexes)
        self.lookups.extend(other.lookups)
        self.declared_entities |= other.declared_entities
        self.files.extend(other.files)

    @property
    def languages(self) -> list[str]:
        return sorted({e.lang for e in self.examples})


def parse_annotated(raw: str) -> tuple[str, tuple[Entity, ...]]:
    """Strip ``[text](entity)`` / ``[text]{json}`` marks; offsets are on the stripped text."""
    out: list[str] = []
    entities: list[Entity] = []
    pos = 0
    length = 0
    for m in _ANNOTATION.finditer(raw):
        before = raw[pos : m.start()]
        out.append(before)
        length += len(before)
        surface = m.group("text")
        name, value = _annotation_target(m, surface)
        entities.append(Entity(name, value, length, length + len(surface)))
        out.append(surface)
        length += len(surface)
        pos = m.end()
    out.append(raw[pos:])
    return "".join(out), tuple(entities)


def _annotation_target(m: re.Match[str], surface: str) -> tuple[str, str]:
    if m.group("name") is not None:
        name = m.group("name").strip()
        # Deprecated Markdown-era shorthand [savings](account:savings).
        entity, _, value = name.partition(":")
        return entity, value or surface
    try:
        meta = json.loads(m.group("json"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"bad entity JSON {m.group('json')!r}: {exc.msg}") from exc
    if not isinstance(meta, dict) or not meta.get("entity"):
        raise ValueError(f"entity JSON without 'entity': {m.group('json')!r}")
    return str(meta["entity"]), str(meta.get("value") or surface)


def _block_lines(node: yaml.Node) -> list[tuple[str, int]]:
    """The ``- `` items of an ``examples`` node with their 1-based source lines."""
    if isinstance(node, yaml.SequenceNode):  # extended form: [{text, metadata}] or [str]
        items: list[tuple[str, int]] = []
        for child in node.value:
            if isinstance(child, yaml.MappingNode):
                for key, val in child.value:
                    if key.value == "text" and isinstance(val, yaml.ScalarNode):
                        items.append((str(val.value), val.start_mark.line + 1))
            elif isinstance(child, yaml.ScalarNode):
                items.append((str(child.value), child.start_mark.line + 1))
        return items
    if not isinstance(node, yaml.ScalarNode):
        return []
    # A block scalar's mark is on the "|" indicator; its content starts on the next line.
    first = node.start_mark.line + (2 if node.style in ("|", ">") else 1)
    result = []
    for offset, line in enumerate(str(node.value).split("\n")):
        stripped = line.strip()
        if stripped.startswith("- "):
            result.append((stripped[2:].strip(), first + offset))
        elif stripped == "-":
            result.append(("", first + offset))
    return result


def _mapping(node: yaml.MappingNode) -> dict[str, yaml.Node]:
    return {str(k.value): v for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def read_file(path: Path, lang: str, display: str | None = None) -> NluData:
    """Read one YAML file; ``lang`` tags its examples (``""`` for shared files)."""
    name = display or str(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise DataError(f"{name}:{line}: YAML error: {exc.problem or exc}") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(f"{name}:1: cannot read: {exc}") from exc
    data = NluData(files=[path])
    if root is None:
        return data
    if not isinstance(root, yaml.MappingNode):
        raise DataError(f"{name}:{root.start_mark.line + 1}: top level must be a mapping")
    top = _mapping(root)
    if "entities" in top:
        data.declared_entities |= _scalars(top["entities"])
    nlu = top.get("nlu")
    if isinstance(nlu, yaml.SequenceNode):
        for item in nlu.value:
            if isinstance(item, yaml.MappingNode):
                _read_item(item, lang, name, data)
    elif nlu is not None:
        raise DataError(f"{name}:{nlu.start_mark.line + 1}: 'nlu' must be a list")
    return data


def _scalars(node: yaml.Node) -> set[str]:
    if isinstance(node, yaml.SequenceNode):
        out: set[str] = set()
        for child in node.value:
            if isinstance(child, yaml.ScalarNode):
                out.add(str(child.value))
            elif isinstance(child, yaml.MappingNode):  # domain style: - platform: {...}
                out |= set(_mapping(child))
        return out
    return set()


def _read_item(item: yaml.MappingNode, lang: str, name: str, data: NluData) -> None:
    fields = _mapping(item)
    line = item.start_mark.line + 1
    examples = fields.get("examples")
    rows = _block_lines(examples) if examples is not None else []
    for kind in ("intent", "synonym", "regex", "lookup"):
        key = fields.get(kind)
        if isinstance(key, yaml.ScalarNode):
            _add_item(kind, str(key.value), rows, _item_lang(fields, lang), name, line, data)
            return


def _item_lang(fields: dict[str, yaml.Node], lang: str) -> str:
    """An item's ``metadata: {lang: xx}`` overrides its folder (used by shared files)."""
    meta = fields.get("metadata")
    if isinstance(meta, yaml.MappingNode):
        value = _mapping(meta).get("lang")
        if isinstance(value, yaml.ScalarNode) and value.value:
            return str(value.value)
    return lang


def _add_item(
    kind: str,
    key: str,
    rows: list[tuple[str, int]],
    lang: str,
    name: str,
    line: int,
    data: NluData,
) -> None:
    if kind == "intent":
        for raw, row_line in rows:
            try:
                text, entities = parse_annotated(raw)
            except ValueError as exc:
                raise DataError(f"{name}:{row_line}: {exc}") from exc
            data.examples.append(Example(text, key, lang, name, row_line, entities))
            for ent in entities:
                if ent.value != text[ent.start : ent.end]:
                    data.synonyms[text[ent.start : ent.end].casefold()] = ent.value
    elif kind == "synonym":
        for raw, _ in rows:
            data.synonyms[raw.casefold()] = key
    elif kind == "regex":
        data.regexes.append(Pattern(key, tuple(r for r, _ in rows), name, line))
    else:
        data.lookups.append(Pattern(key, tuple(r for r, _ in rows), name, line))


def data_files(data_dir: Path) -> list[tuple[Path, str]]:
    """``(file, lang)`` for every YAML file: shared files at the top, ``<lang>/*.yml`` below."""
    files: list[tuple[Path, str]] = []
    for path in sorted(data_dir.glob("*.yml")) + sorted(data_dir.glob("*.yaml")):
        files.append((path, ""))
    for sub in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        for path in sorted(sub.glob("*.yml")) + sorted(sub.glob("*.yaml")):
            files.append((path, sub.name))
    return files


def load_dir(data_dir: Path, skip: Iterable[str] = ("oos_eval.yml",)) -> NluData:
    """All training data below ``data_dir``; held-out files (``skip``) are left out."""
    data = NluData()
    skipped = set(skip)
    for path, lang in data_files(data_dir):
        if path.name in skipped:
            continue
        data.merge(read_file(path, lang, display_name(path)))
    return data


def display_name(path: Path) -> str:
    """A path as errors print it: relative to the working directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
