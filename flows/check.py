"""Whole-content checks: everything that can go wrong between files or beyond the schema.

``check_dir`` is what ``caseline flows check`` and ``FlowEngine.load`` both run:
YAML syntax and schema (via :mod:`flows.loader`), then dangling node and flow
references, unreachable nodes, missing translations, channel limits and a consent
version nobody can agree to. Each problem carries the file and line a content designer
should open.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from flows.errors import Problem, Severity
from flows.loader import CONFIG_FILE, SourceFile, build_flow, read_dir
from flows.nodes import NODE_KINDS
from flows.spec import REQUIRED_LANGS, Flow, Node, Text

SHIPPED_CONTENT = Path(__file__).with_name("content")


def check_dir(
    content_dir: Path,
    required_langs: tuple[str, ...] = REQUIRED_LANGS,
    translations: Severity = "warning",
) -> tuple[list[SourceFile], list[Problem]]:
    """Every problem in ``content_dir``; missing translations get ``translations`` severity."""
    sources, problems = read_dir(content_dir)
    broken = {p.file for p in problems if p.severity == "error"}
    good = [s for s in sources if s.data is not None and s.name not in broken]
    problems += check_sources(content_dir, good, required_langs, translations)
    return sources, sorted(problems)


def check_sources(
    content_dir: Path,
    sources: list[SourceFile],
    required_langs: tuple[str, ...],
    translations: Severity,
) -> list[Problem]:
    flows = [s for s in sources if not s.is_config]
    configs = [s for s in sources if s.is_config]
    problems = list(_duplicate_flows(flows))
    known = {_data(s)["flow"] for s in flows}
    for src in flows:
        problems += _check_flow(src, known, required_langs, translations)
    if not configs:
        problems.append(Problem(str(content_dir / CONFIG_FILE), 1, "no config file found"))
    for src in configs:
        problems += _check_config(src, known, required_langs, translations)
        problems += _check_consent(src, flows)
    return problems


def _data(src: SourceFile) -> Mapping[str, Any]:
    assert src.data is not None
    return src.data


def _duplicate_flows(flows: list[SourceFile]) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    for src in flows:
        flow_id = _data(src)["flow"]
        if flow_id in seen:
            yield src.problem(("flow",), f"flow {flow_id!r} is also defined in {seen[flow_id]}")
        seen.setdefault(flow_id, src.name)


def _check_flow(
    src: SourceFile, known: set[str], langs: tuple[str, ...], translations: Severity
) -> list[Problem]:
    nodes = _data(src)["nodes"]
    problems = [
        src.problem(("nodes", i, "id"), f"duplicate node id {n['id']!r}")
        for i, n in enumerate(nodes)
        if [m["id"] for m in nodes[:i]].count(n["id"])
    ]
    if problems:
        return problems
    flow = build_flow(_data(src), src.name)
    for node in (flow.nodes[n] for n in flow.order):
        problems += _check_node(src, flow, node, known, langs, translations)
    problems += _unreachable(src, flow)
    return problems


def _check_node(
    src: SourceFile,
    flow: Flow,
    node: Node,
    known: set[str],
    langs: tuple[str, ...],
    translations: Severity,
) -> Iterator[Problem]:
    kind = NODE_KINDS[node.type]
    at = ("nodes", node.index)
    for path, target in kind.exits(node):
        if target not in flow.nodes:
            yield src.problem(at + path, f"{node.id}: goes to unknown node {target!r}")
    for path, target in kind.flow_refs(node):
        if target not in known:
            yield src.problem(at + path, f"{node.id}: enters unknown flow {target!r}")
    for path, message in kind.lint(node, langs):
        yield src.problem(at + path, f"{node.id}: {message}")
    for path, text in kind.texts(node):
        string_id = "/".join([flow.id, node.id, *map(str, path)])
        yield from _translations(src, at + path, string_id, text, flow.default_lang, langs,
                                 translations)


def _translations(
    src: SourceFile,
    path: tuple[str | int, ...],
    string_id: str,
    text: Text,
    default_lang: str,
    langs: tuple[str, ...],
    severity: Severity,
) -> Iterator[Problem]:
    if isinstance(text, str):
        return  # a plain string is language-neutral: names, numbers, emoji
    have = set(text)
    missing = [lang for lang in langs if lang not in have]
    if missing:
        yield src.problem(path, f"{string_id}: missing translation: {', '.join(missing)}",
                          severity)


def _unreachable(src: SourceFile, flow: Flow) -> Iterator[Problem]:
    seen: set[str] = set()
    todo = [flow.start]
    while todo:
        node_id = todo.pop()
        if node_id in seen or node_id not in flow.nodes:
            continue
        seen.add(node_id)
        node = flow.nodes[node_id]
        kind = NODE_KINDS[node.type]
        todo += [target for _, target in kind.exits(node)]
        following = flow.following(node_id)
        if kind.continues(node) and not node.get("next") and following:
            todo.append(following)
    for node_id in flow.order:
        if node_id not in seen:
            node = flow.nodes[node_id]
            yield src.problem(("nodes", node.index, "id"), f"{node_id}: unreachable node")


def _check_config(
    src: SourceFile, known: set[str], langs: tuple[str, ...], translations: Severity
) -> Iterator[Problem]:
    data = _data(src)
    refs: list[tuple[tuple[str | int, ...], str]] = [
        (("onboarding_flow",), data["onboarding_flow"]),
        (("main_flow",), data["main_flow"]),
    ]
    refs += [(("globals", i, "flow"), g["flow"]) for i, g in enumerate(data["globals"])]
    refs += [(("intents", k), v) for k, v in data["intents"].items()]
    for path, target in refs:
        if target not in known:
            yield src.problem(path, f"unknown flow {target!r}")
    yield from _translations(src, ("retry_text",), "config/retry_text", data["retry_text"],
                             data["default_lang"], langs, translations)
    for i, command in enumerate(data["globals"]):
        missing = [lang for lang in langs if lang not in command.get("words", {})]
        if command.get("words") and missing:
            yield src.problem(("globals", i, "words"),
                              f"global {command['id']!r}: no words for {', '.join(missing)}",
                              translations)


def _check_consent(config: SourceFile, flows: list[SourceFile]) -> Iterator[Problem]:
    """A notice version needs a step that records agreement to it, and the other way round.

    Without a ``record_consent`` step in onboarding nobody could ever agree, so every
    contact would be stuck in front of the notice; without a version a recorded consent
    would not say what was agreed to.
    """
    data = _data(config)
    steps = [
        (src, i, node["id"])
        for src in flows
        for i, node in enumerate(_data(src)["nodes"])
        if node.get("type") == "record_consent"
    ]
    if "consent_version" not in data:
        for src, i, node_id in steps:
            yield src.problem(("nodes", i, "type"),
                              f"{node_id}: record_consent needs consent_version in {CONFIG_FILE}")
        return
    onboarding = data["onboarding_flow"]
    present = {_data(src)["flow"] for src in flows}
    if onboarding in present and not any(_data(src)["flow"] == onboarding for src, _, _ in steps):
        yield config.problem(("consent_version",),
                             f"consent_version is set, but flow {onboarding!r} has no "
                             "record_consent step, so nobody could agree to the notice")
