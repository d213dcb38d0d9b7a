"""The ``question`` node kind: buttons, a list, or validated free text.

A typed number or title counts as pressing that button (``Reply.choice_for``), so
text-only channels work with the same content.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from caseline.messages import Button, Reply
from flows.events import RecordAnswer
from flows.nodes.base import JsonPath, NodeKind, RunContext, text_of
from flows.spec import (
    MAX_BUTTON_TITLE,
    MAX_BUTTONS,
    MAX_LIST_ROWS,
    MAX_PAYLOAD_BYTES,
    MAX_ROW_TITLE,
    Flow,
    Node,
    Text,
    button_payload,
)

Validator = Callable[[str, Mapping[str, Any]], str | None]
MAX_FREE_TEXT = 2000


def _text(answer: str, rule: Mapping[str, Any]) -> str | None:
    answer = answer.strip()
    return answer[:MAX_FREE_TEXT] if answer else None


def _in_range(value: float, rule: Mapping[str, Any], lo: float, hi: float) -> bool:
    return float(rule.get("min", lo)) <= value <= float(rule.get("max", hi))


def _number(answer: str, rule: Mapping[str, Any]) -> str | None:
    match = re.fullmatch(r"\s*(-?\d+(?:[.,]\d+)?)\s*", answer)
    if match is None:
        return None
    value = float(match.group(1).replace(",", "."))
    if not _in_range(value, rule, float("-inf"), float("inf")):
        return None
    return str(int(value)) if value.is_integer() else str(value)


def _age(answer: str, rule: Mapping[str, Any]) -> str | None:
    match = re.search(r"\d{1,3}", answer)
    if match is None:
        return None
    age = int(match.group())
    return str(age) if _in_range(age, rule, 0, 18) else None


def _regex(answer: str, rule: Mapping[str, Any]) -> str | None:
    try:
        ok = re.fullmatch(str(rule.get("pattern", "")), answer.strip(), re.IGNORECASE)
    except re.error:
        return None
    return answer.strip() if ok else None


VALIDATORS: dict[str, Validator] = {"text": _text, "number": _number, "age": _age, "regex": _regex}


def choices_of(node: Node) -> list[Mapping[str, Any]]:
    found = node.get("buttons") or node.get("list") or []
    return [c for c in found if isinstance(c, Mapping)]


class Question(NodeKind):
    """Ask, wait for the answer, keep it (``save_as``, ``field``, ``record``) and move on."""

    def render(self, run: RunContext, node: Node, text: Text | None = None) -> Reply:
        shown = run.text(text if text is not None else node.get("text"))
        choices = tuple(
            Button(button_payload(node.id, c["id"]), run.text(c["title"])) for c in choices_of(node)
        )
        if node.get("list"):
            label = run.text(node.get("list_button") or "Options")
            return Reply(shown, list_items=choices, list_button=label)
        return Reply(shown, buttons=choices)

    def enter(self, run: RunContext, flow: Flow, node: Node) -> None:
        run.say(self.render(run, node))
        run.wait()

    def retry(self, run: RunContext, flow: Flow, node: Node) -> None:
        retry = text_of(node, "retry")
        reply = self.render(run, node, retry) if retry else self.render(run, node)
        if retry is None:
            reply = Reply(
                f"{run.retry_text()}\n\n{reply.text}", reply.buttons, reply.list_items,
                reply.list_button,
            )
        run.say(reply)
        run.wait()

    def resume(self, run: RunContext, flow: Flow, node: Node) -> bool:
        if choices_of(node):
            return self._resume_choice(run, flow, node)
        rule = node.get("validate") or {"kind": "text"}
        answer = run.inp.text if run.inp.text is not None else run.inp.payload
        validator = VALIDATORS.get(str(rule.get("kind")), _text)
        value = validator(answer, rule) if answer is not None else None
        if value is None:
            return False
        self._keep(run, flow, node, value)
        run.goto(flow.next_of(node))
        return True

    def _resume_choice(self, run: RunContext, flow: Flow, node: Node) -> bool:
        choice = self._chosen(run, node)
        if choice is None:
            return False
        self._keep(run, flow, node, str(choice.get("value", choice["id"])))
        run.goto(str(choice["next"]) if choice.get("next") else flow.next_of(node))
        return True

    def _chosen(self, run: RunContext, node: Node) -> Mapping[str, Any] | None:
        by_payload = {button_payload(node.id, c["id"]): c for c in choices_of(node)}
        if run.inp.payload in by_payload:
            return by_payload[str(run.inp.payload)]
        typed = run.inp.text if run.inp.text is not None else run.inp.payload
        if typed is None:
            return None
        button = self.render(run, node).choice_for(typed)
        return by_payload.get(button.payload) if button else None

    def _keep(self, run: RunContext, flow: Flow, node: Node, value: str) -> None:
        run.accept(value)
        if node.get("save_as"):
            run.remember(str(node.get("save_as")), value)
        if node.get("field"):
            run.set_field(str(node.get("field")), value)
        if node.get("record"):
            run.emit(RecordAnswer(flow.id, node.id, value))

    def exits(self, node: Node) -> Iterator[tuple[JsonPath, str]]:
        yield from super().exits(node)
        key = "buttons" if node.get("buttons") else "list"
        for i, choice in enumerate(choices_of(node)):
            if choice.get("next"):
                yield (key, i, "next"), str(choice["next"])

    def continues(self, node: Node) -> bool:
        choices = choices_of(node)
        return not choices or any(not c.get("next") for c in choices)

    def texts(self, node: Node) -> Iterator[tuple[JsonPath, Text]]:
        yield from super().texts(node)
        for key in ("retry", "list_button"):
            if node.get(key) is not None:
                yield (key,), node.get(key)
        key = "buttons" if node.get("buttons") else "list"
        for i, choice in enumerate(choices_of(node)):
            yield (key, i, "title"), choice["title"]

    def lint(self, node: Node, langs: tuple[str, ...]) -> Iterator[tuple[JsonPath, str]]:
        is_list = bool(node.get("list"))
        key, most, longest = ("list", MAX_LIST_ROWS, MAX_ROW_TITLE) if is_list else (
            "buttons", MAX_BUTTONS, MAX_BUTTON_TITLE)
        choices = choices_of(node)
        if len(choices) > most:
            what = "list rows" if is_list else "buttons (use a list instead)"
            yield (key,), f"{len(choices)} {what}: at most {most} allowed"
        for i, choice in enumerate(choices):
            yield from _lint_choice(node, key, i, choice, longest)
        rule = node.get("validate") or {}
        if rule.get("kind") == "regex":
            try:
                re.compile(str(rule.get("pattern", "")))
            except re.error as exc:
                yield ("validate", "pattern"), f"invalid regex: {exc}"


def _lint_choice(
    node: Node, key: str, i: int, choice: Mapping[str, Any], longest: int
) -> Iterator[tuple[JsonPath, str]]:
    payload = button_payload(node.id, str(choice["id"]))
    if len(payload.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        yield (key, i, "id"), f"payload {payload!r} is over {MAX_PAYLOAD_BYTES} bytes"
    title = choice["title"]
    shown_in = title.items() if isinstance(title, Mapping) else [("", title)]
    for lang, shown in shown_in:
        if len(shown) > longest:
            what = "list row title" if key == "list" else "button title"
            where = f" ({lang})" if lang else ""
            yield (key, i, "title"), f"{what}{where} {shown!r} is over {longest} characters"
