"""Shared fixtures: one loaded screen per test session (loading compiles all lexicons)."""

from __future__ import annotations

import pytest

from safeguarding.normalise import Normaliser
from safeguarding.screen import RiskScreen


@pytest.fixture(scope="session")
def screen() -> RiskScreen:
    return RiskScreen.load()


@pytest.fixture()
def norm() -> Normaliser:
    return Normaliser()
