"""Golden scenarios: tests/scenarios/<flow>.<lang>.<case>.yml replayed through the engine.

Each file is a list of turns ``{fields?, send, expect, events}``. Run with
``--update-goldens`` (or ``CASELINE_UPDATE_GOLDENS=1``) to rewrite ``expect`` and
``events`` from the current engine and content, then review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from scenario import replay

from flows.engine import FlowEngine

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
FILES = sorted(SCENARIOS.glob("*.yml"))


def test_there_are_scenarios() -> None:
    assert len(FILES) >= 20


def test_scenario_names_follow_convention() -> None:
    for path in FILES:
        assert len(path.name.split(".")) == 4, path.name


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario(path: Path, engine: FlowEngine, update_goldens: bool) -> None:
    turns = yaml.safe_load(path.read_text(encoding="utf-8"))
    actual = replay(engine, turns)
    if update_goldens:
        text = yaml.safe_dump(actual, allow_unicode=True, sort_keys=False, width=100)
        path.write_text(text, encoding="utf-8")
        return
    for i, (want, got) in enumerate(zip(turns, actual, strict=True)):
        assert got["expect"] == want.get("expect"), f"turn {i}: {want['send']}"
        assert got["events"] == want.get("events", []), f"turn {i}: {want['send']}"
