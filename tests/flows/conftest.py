"""Shared fixtures for flow tests; ``--update-goldens`` rewrites scenario files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flows.engine import FlowEngine  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens", action="store_true", default=False,
        help="rewrite tests/scenarios/*.yml from the engine's current output",
    )


@pytest.fixture(scope="session")
def update_goldens(request: pytest.FixtureRequest) -> bool:
    flag = bool(request.config.getoption("--update-goldens", default=False))
    return flag or os.environ.get("CASELINE_UPDATE_GOLDENS") == "1"


@pytest.fixture(scope="session")
def engine() -> FlowEngine:
    return FlowEngine.load()
