"""Engine unit tests: node kinds, validation, routers, sub-flows, globals, versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import flow_yaml, write_content

from flows.engine import FlowEngine
from flows.errors import FlowContentError
from flows.events import (
    FlowEnded,
    FlowError,
    FlowInput,
    OpenCase,
    OptOut,
    RecordAnswer,
    RequestErasure,
    ScheduleJob,
    SetField,
    StepResult,
)

KINDS = """\
- {id: hello, type: send, text: {en: "Hello", ru: "Привет"}}
- id: age
  type: question
  text: {en: "Age?"}
  validate: {kind: age}
  retry: {en: "Number 0-18 please."}
  save_as: age
  record: true
- id: route
  type: router
  on: var.age
  cases:
    - {between: [0, 9], next: small}
  default: big
- {id: small, type: set_field, field: group, value: small, next: sub}
- {id: big, type: set_field, field: group, from: var.age, next: sub}
- {id: sub, type: enter_flow, flow: child}
- {id: after_sub, type: schedule, job: remind, data: {days: 7}}
- id: pick
  type: question
  text: {en: "Pick"}
  buttons:
    - {id: a, title: {en: Alpha}, next: case}
    - {id: b, title: {en: Beta}}
- {id: b_said, type: send, text: {en: "Beta chosen"}, next: fin}
- {id: case, type: handoff, reason: support, severity: low, text: {en: "A person will reply."}}
- {id: fin, type: end, text: {en: "Done."}}
"""

CHILD = """\
- {id: inside, type: send, text: {en: "Inside child"}}
- {id: out, type: end}
"""


@pytest.fixture()
def content(tmp_path: Path) -> Path:
    return write_content(tmp_path / "c", {
        "start.yml": flow_yaml("start", KINDS),
        "child.yml": flow_yaml("child", CHILD),
    })


def run(engine: FlowEngine, *inputs: FlowInput, fields: dict[str, str] | None = None,
        session: dict[str, Any] | None = None) -> tuple[list[StepResult], dict[str, str]]:
    fields = dict(fields or {})
    results = []
    for inp in inputs:
        result = engine.step(session, fields, inp)
        session = result.session
        fields.update({e.name: e.value for e in result.events if isinstance(e, SetField)})
        results.append(result)
    return results, fields


def texts(result: StepResult) -> list[str]:
    return [r.text for r in result.replies]


def test_every_node_kind(content: Path) -> None:
    engine = FlowEngine.load(content)
    results, fields = run(engine, FlowInput(text="hi"), FlowInput(text="12"),
                          FlowInput(payload="pick.a"))
    assert texts(results[0]) == ["Hello", "Age?"]
    second = results[1]
    assert RecordAnswer("start", "age", "12") in second.events
    assert SetField("group", "12") in second.events
    assert texts(second) == ["Inside child", "Pick"]
    assert FlowEnded("child") in second.events
    assert ScheduleJob("remind", {"days": 7}) in second.events
    assert [b.title for b in second.replies[-1].buttons] == ["Alpha", "Beta"]
    third = results[2]
    assert OpenCase("support", "low") in third.events
    assert texts(third) == ["A person will reply.", "Done."]
    assert third.events[-1] == FlowEnded("start")
    assert third.session is not None and third.session["stack"] == []


def test_validation_retry_then_accept(content: Path) -> None:
    engine = FlowEngine.load(content)
    results, fields = run(engine, FlowInput(text="hi"), FlowInput(text="old"),
                          FlowInput(text="99"), FlowInput(text="3"))
    assert texts(results[1]) == ["Number 0-18 please."]
    assert texts(results[2]) == ["Number 0-18 please."]
    assert fields["group"] == "small"


def test_button_by_number_title_and_default_next(content: Path) -> None:
    engine = FlowEngine.load(content)
    base = (FlowInput(text="hi"), FlowInput(text="3"))
    by_number, _ = run(engine, *base, FlowInput(text="2"))
    by_title, _ = run(engine, *base, FlowInput(text="beta"))
    assert texts(by_number[-1]) == texts(by_title[-1]) == ["Beta chosen", "Done."]
    wrong, _ = run(engine, *base, FlowInput(text="gamma"))
    assert texts(wrong[-1]) == ["Try again.\n\nPick"]


def test_fallback_to_default_language(content: Path) -> None:
    engine = FlowEngine.load(content)
    results, _ = run(engine, FlowInput(text="hi"), fields={"lang": "ru"})
    assert texts(results[0]) == ["Привет", "Age?"]  # "Age?" has no ru: falls back to en


def test_stop_global_and_word(content: Path) -> None:
    engine = FlowEngine.load(content)
    results, _ = run(engine, FlowInput(text="hi"), FlowInput(text=" Stop! "))
    assert OptOut() in results[1].events
    assert texts(results[1]) == ["Bye."]
    intent, _ = run(engine, FlowInput(text="hi"),
                    FlowInput(text="leave me", intent="stop", intent_confidence=0.8))
    assert OptOut() in intent[1].events
    weak, _ = run(engine, FlowInput(text="hi"),
                  FlowInput(text="leave me", intent="stop", intent_confidence=0.3))
    assert OptOut() not in weak[1].events


def test_broken_session_is_not_fatal(content: Path) -> None:
    engine = FlowEngine.load(content)
    result = engine.step({"stack": "nonsense"}, {}, FlowInput(text="hi"))
    assert FlowError("bad_session", "session state was malformed; starting again") in result.events
    assert texts(result) == ["Hello", "Age?"]


def test_unknown_node_in_session_recovers(content: Path) -> None:
    engine = FlowEngine.load(content)
    first = engine.step(None, {}, FlowInput(text="hi"))
    assert first.session is not None
    rev = first.session["stack"][0]["rev"]
    session = {"stack": [{"flow": "start", "rev": rev, "node": "gone"}], "waiting": True}
    result = engine.step(session, {}, FlowInput(text="hi"))
    assert any(isinstance(e, FlowError) for e in result.events)


def test_version_pinning_survives_reload(tmp_path: Path) -> None:
    v1 = """\
    - {id: q, type: question, text: {en: "Q v1"}, buttons: [{id: ok, title: {en: OK}}]}
    - {id: a, type: end, text: {en: "End v1"}}
    """
    v2 = """\
    - {id: q, type: question, text: {en: "Q v2"}, buttons: [{id: ok, title: {en: OK}}]}
    - {id: a, type: end, text: {en: "End v2"}}
    """
    old = FlowEngine.load(write_content(tmp_path / "v1", {"start.yml": flow_yaml("start", v1)}))
    started = old.step(None, {}, FlowInput(text="hi"))
    new = old.reload(write_content(tmp_path / "v2", {"start.yml": flow_yaml("start", v2, 2)}))
    finished = new.step(started.session, {}, FlowInput(payload="q.ok"))
    assert texts(finished) == ["End v1"]
    fresh = new.step(None, {}, FlowInput(text="hi"))
    assert texts(fresh) == ["Q v2"]


def test_snapshots_restore_versions_after_restart(tmp_path: Path) -> None:
    v1 = "- {id: q, type: question, text: {en: v1}, validate: {kind: text}}\n- {id: e, type: end}\n"
    v2 = "- {id: q, type: question, text: {en: v2}, validate: {kind: text}}\n- {id: e, type: end}\n"
    snaps = tmp_path / "snaps"
    old = FlowEngine.load(write_content(tmp_path / "a", {"start.yml": flow_yaml("start", v1)}),
                          snapshot_dir=snaps)
    started = old.step(None, {}, FlowInput(text="hi"))
    new_dir = write_content(tmp_path / "b", {"start.yml": flow_yaml("start", v2)})
    restarted = FlowEngine.load(new_dir, snapshot_dir=snaps)
    result = restarted.step(started.session, {}, FlowInput(text="answer"))
    assert not any(isinstance(e, FlowError) for e in result.events)
    assert result.events[-1] == FlowEnded("start")


def test_broken_edit_keeps_old_engine(content: Path, tmp_path: Path) -> None:
    engine = FlowEngine.load(content)
    broken = write_content(tmp_path / "broken", {"start.yml": "spec_version: 2\nflow: [oops\n"})
    with pytest.raises(FlowContentError) as info:
        engine = engine.reload(broken)
    assert any(p.file.endswith("start.yml") and p.line == 3 for p in info.value.problems)
    assert texts(engine.step(None, {}, FlowInput(text="hi"))) == ["Hello", "Age?"]


def test_missing_pinned_version_falls_back_to_latest(content: Path) -> None:
    engine = FlowEngine.load(content)
    session = {"stack": [{"flow": "start", "rev": "v0-gone", "node": "age"}], "waiting": True}
    result = engine.step(session, {}, FlowInput(text="5"))
    assert any(isinstance(e, FlowError) and e.code == "flow_version_missing"
               for e in result.events)
    assert "Inside child" in texts(result)


def test_shipped_delete_asks_then_erases(engine: FlowEngine) -> None:
    fields = {"lang": "en", "role": "parent", "consent_version": "1"}
    results, _ = run(engine, FlowInput(text="hi"), FlowInput(text="delete my data"),
                     FlowInput(payload="confirm.yes_delete"), fields=fields)
    assert RequestErasure() not in results[1].events
    assert RequestErasure() in results[2].events


def test_shipped_help_returns_to_question(engine: FlowEngine) -> None:
    fields = {"lang": "en", "role": "parent", "consent_version": "1"}
    results, _ = run(engine, FlowInput(text="hi"), FlowInput(text="help"), fields=fields)
    assert texts(results[1])[-1] == "What would you like help with?"


def test_shipped_intent_jump_and_menu(engine: FlowEngine) -> None:
    fields = {"lang": "en", "role": "young_person", "consent_version": "1"}
    jump = FlowInput(text="they want money", intent="sextortion", intent_confidence=0.7)
    results, _ = run(engine, FlowInput(text="hi"), jump, FlowInput(text="menu"), fields=fields)
    assert "You are not in trouble" in texts(results[1])[0]
    assert texts(results[2]) == ["What would you like help with?"]


def test_no_intent_jumps_before_consent(engine: FlowEngine) -> None:
    inp = FlowInput(text="sleep", intent="parenting_sleep", intent_confidence=0.9)
    result = engine.step(None, {}, inp)
    assert result.replies[0].list_items[0].title == "English"


def test_payloads_fit_telegram(engine: FlowEngine) -> None:
    for flow in engine.library.versions.values():
        for node in flow.nodes.values():
            for choice in node.get("buttons") or node.get("list") or []:
                assert len(f"{node.id}.{choice['id']}".encode()) <= 64
