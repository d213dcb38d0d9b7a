"""Shared fixtures: the real engine trained once per session, and tiny data dirs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nlu.embedded import EmbeddedNlu


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nlu-cache")


@pytest.fixture(scope="session")
def engine(cache_dir: Path) -> EmbeddedNlu:
    return EmbeddedNlu.load(cache_dir=cache_dir)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


TINY_EN = """
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hi
    - hello there
    - good morning
    - hey
- intent: parenting_sleep
  examples: |
    - my [4](child_age) year old won't sleep
    - baby wakes up every night
    - bedtime is a nightmare
    - toddler won't nap
- intent: cyber_bullying
  examples: |
    - kids post mean stuff about my son on [insta]{"entity": "platform", "value": "instagram"}
    - my daughter is bullied online
    - they send hate messages
    - people call me names in the group chat
- lookup: platform
  examples: |
    - instagram
    - tiktok
- synonym: tiktok
  examples: |
    - tik tok
"""

TINY_ENTITIES = """
version: "3.1"
entities: [child_age, platform]
nlu:
- regex: child_age
  examples: |
    - \\b(\\d{1,2})\\s*-?\\s*(?:years?|yo)\\b
"""


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    write(data / "entities.yml", TINY_ENTITIES)
    write(data / "en" / "nlu.yml", TINY_EN)
    return data
