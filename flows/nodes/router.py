"""The ``router`` node kind and its registry of case tests.

A router reads one operand (the last answer, the NLU intent, an entity, a contact
field, a remembered value, the raw text or payload), tries its cases in order and
follows the first that matches, else ``default``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flows.nodes.base import JsonPath, NodeKind, RunContext
from flows.spec import Flow, Node

CaseTest = Callable[[str | None, Any], bool]


def _is(value: str | None, arg: Any) -> bool:
    return value is not None and value.strip().casefold() == str(arg).casefold()


def _any(value: str | None, arg: Any) -> bool:
    return any(_is(value, a) for a in arg)


def _regex(value: str | None, arg: Any) -> bool:
    return value is not None and re.search(str(arg), value, re.IGNORECASE) is not None


def _between(value: str | None, arg: Any) -> bool:
    match = re.search(r"-?\d+(?:\.\d+)?", value or "")
    return match is not None and float(arg[0]) <= float(match.group()) <= float(arg[1])


def _present(value: str | None, arg: Any) -> bool:
    return bool(value and value.strip()) == bool(arg)


CASE_TESTS: dict[str, CaseTest] = {
    "is": _is,
    "any": _any,
    "regex": _regex,
    "between": _between,
    "present": _present,
}


def case_test(case: Mapping[str, Any]) -> tuple[str, Any]:
    key = next(k for k in case if k != "next")
    return key, case[key]


class Router(NodeKind):
    falls_through = False

    def enter(self, run: RunContext, flow: Flow, node: Node) -> None:
        value = run.lookup(str(node.get("on")))
        for case in node.get("cases") or []:
            key, arg = case_test(case)
            try:
                matched = CASE_TESTS[key](value, arg)
            except (re.error, ValueError, TypeError, IndexError) as exc:
                run.error("bad_case", f"{flow.id}/{node.id}: {key}: {exc}")
                continue
            if matched:
                run.goto(str(case["next"]))
                return
        run.goto(str(node.get("default")))

    def exits(self, node: Node) -> Iterator[tuple[JsonPath, str]]:
        for i, case in enumerate(node.get("cases") or []):
            yield ("cases", i, "next"), str(case["next"])
        yield ("default",), str(node.get("default"))

    def lint(self, node: Node, langs: tuple[str, ...]) -> Iterator[tuple[JsonPath, str]]:
        for i, case in enumerate(node.get("cases") or []):
            if "regex" in case:
                try:
                    re.compile(str(case["regex"]))
                except re.error as exc:
                    yield ("cases", i, "regex"), f"invalid regex: {exc}"
