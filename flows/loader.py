"""Read flow YAML into validated data, remembering which line every value came from.

YAML is parsed twice from the same text: ``safe_load`` for the data and ``compose``
for the node tree whose marks map a JSON path (``nodes/3/buttons/0/title``) back to
a line, so every problem can be reported as ``file:line: message``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from flows.errors import Problem, Severity
from flows.migrations import MigrationError, migrate
from flows.nodes import NODE_KINDS
from flows.spec import EngineConfig, Flow, Node

SCHEMA_PATH = Path(__file__).with_name("schema.json")
CONFIG_FILE = "_config.yml"
PathPart = str | int


class ContentLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only ``true``/``false``, so ``no``, ``on`` and ``yes`` stay words."""


ContentLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ContentLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One content file: its (migrated) data and the YAML node tree for line lookups."""

    name: str
    data: Mapping[str, Any] | None
    root: yaml.Node | None

    @property
    def is_config(self) -> bool:
        return self.data is not None and "config" in self.data

    def line(self, path: Sequence[PathPart] = ()) -> int:
        """1-based line of the deepest YAML node found along ``path``."""
        node = self.root
        if node is None:
            return 1
        for part in path:
            child = _child(node, part)
            if child is None:
                break
            node = child
        return node.start_mark.line + 1

    def problem(
        self, path: Sequence[PathPart], message: str, severity: Severity = "error"
    ) -> Problem:
        return Problem(self.name, self.line(path), message, severity)


def _child(node: yaml.Node, part: PathPart) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value if isinstance(value, yaml.Node) else None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item = node.value[part]
        return item if isinstance(item, yaml.Node) else None
    return None


@cache
def _schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


@cache
def _validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$defs": _schema()["$defs"], "$ref": f"#/$defs/{ref}"})


def kind_schemas() -> Mapping[str, Any]:
    kinds: Mapping[str, Any] = _schema()["$defs"]["kinds"]
    return kinds


def parse(name: str, text: str) -> tuple[SourceFile, list[Problem]]:
    """Parse, migrate and schema-check one file's text."""
    try:
        raw = yaml.load(text, Loader=ContentLoader)  # noqa: S506 - a SafeLoader subclass
        root = yaml.compose(text, Loader=ContentLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or str(exc)
        return SourceFile(name, None, None), [Problem(name, line, f"YAML syntax error: {reason}")]
    src = SourceFile(name, None, root)
    if not isinstance(raw, Mapping):
        return src, [src.problem((), "a flow file must be a mapping")]
    try:
        data = migrate(raw)
    except MigrationError as exc:
        return src, [src.problem(("spec_version",), str(exc))]
    src = SourceFile(name, data, root)
    return src, list(_schema_problems(src, data))


def _schema_problems(src: SourceFile, data: Mapping[str, Any]) -> Iterator[Problem]:
    top = "config_file" if "config" in data else "flow_file"
    yield from _errors(src, _validator(top).iter_errors(data), ())
    nodes = data.get("nodes")
    if top != "flow_file" or not isinstance(nodes, list):
        return
    kinds = kind_schemas()
    for i, node in enumerate(nodes):
        kind = node.get("type") if isinstance(node, Mapping) else None
        if not isinstance(kind, str):
            continue
        if kind not in NODE_KINDS or kind not in kinds:
            yield src.problem(("nodes", i, "type"), f"unknown node kind {kind!r}")
            continue
        errors = _validator(f"kinds/{kind}").iter_errors(node)
        yield from _errors(src, errors, ("nodes", i))


def _errors(
    src: SourceFile, errors: Iterator[ValidationError], prefix: tuple[PathPart, ...]
) -> Iterator[Problem]:
    for err in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        path = prefix + tuple(err.absolute_path)
        where = "/".join(map(str, path)) or "(top)"
        yield src.problem(path, f"schema: {where}: {_short(err)}")


def _short(err: ValidationError) -> str:
    if err.validator == "oneOf" and isinstance(err.instance, Mapping):
        alternatives: list[Any] = list(err.validator_value) if isinstance(
            err.validator_value, list) else []
        forms = [sorted(s.get("required", [])) for s in alternatives if isinstance(s, dict)]
        options = " or ".join("+".join(f) for f in forms if f)
        return f"needs exactly one of: {options}" if options else "matches no allowed form"
    msg = err.message
    return msg if len(msg) <= 160 else msg[:157] + "..."


def read_dir(content_dir: Path) -> tuple[list[SourceFile], list[Problem]]:
    """Parse every ``*.yml`` file in ``content_dir`` (sorted, so results are stable)."""
    sources: list[SourceFile] = []
    problems: list[Problem] = []
    if not content_dir.is_dir():
        return [], [Problem(str(content_dir), 1, "content directory not found")]
    for path in sorted(content_dir.glob("*.yml")):
        src, found = parse(str(path), path.read_text(encoding="utf-8"))
        sources.append(src)
        problems += found
    return sources, problems


def content_rev(data: Mapping[str, Any]) -> str:
    """``v<version>-<hash>``: the author's version plus a hash of the exact content."""
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return f"v{data['version']}-{hashlib.sha256(blob).hexdigest()[:12]}"


def build_flow(data: Mapping[str, Any], file: str = "") -> Flow:
    nodes = [Node(n["id"], n["type"], n, i) for i, n in enumerate(data["nodes"])]
    return Flow(
        id=data["flow"],
        version=int(data["version"]),
        rev=content_rev(data),
        default_lang=data["default_lang"],
        name=data["name"],
        nodes={n.id: n for n in nodes},
        order=tuple(n.id for n in nodes),
        file=file,
        sources=tuple(data.get("sources", ())),
        data=data,
    )


def build_config(data: Mapping[str, Any]) -> EngineConfig:
    return EngineConfig.from_data(data)
