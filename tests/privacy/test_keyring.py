"""Master keys: sources, the generated demo file's permissions, rotation of the file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from caseline.keyring import (
    KeyringError,
    add_active_key,
    generate_keys_file,
    load_keyring,
    load_keys_file,
    parse_env,
    retire_key,
)
from tests.privacy.conftest import b64


def test_env_keyring_first_key_is_active() -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    ring = parse_env(f"k2:{b64(k2)}, k1:{b64(k1)}")
    assert ring.active == "k2" and ring.kek("k1") == k1 and ring.kek("k2") == k2
    with pytest.raises(KeyringError):
        parse_env("k1:" + b64(os.urandom(16)))
    with pytest.raises(KeyringError):
        ring.kek("k9")


def test_demo_keys_file_is_generated_private_and_reused(tmp_path: Path) -> None:
    ring = load_keyring(None, tmp_path, env={})
    path = tmp_path / "keys.yml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(None, tmp_path, env={}) == ring
    with pytest.raises(KeyringError):
        generate_keys_file(path)


def test_env_wins_over_file(tmp_path: Path) -> None:
    generate_keys_file(tmp_path / "keys.yml")
    ring = load_keyring(tmp_path / "keys.yml", tmp_path, env={"CASELINE_KEYS": "e1:" + b64(os.urandom(32))})
    assert ring.active == "e1"


def test_add_and_retire_keys_in_the_file(tmp_path: Path) -> None:
    ring = generate_keys_file(tmp_path / "k.yml")
    rotated = add_active_key(ring)
    assert rotated.active != ring.active and set(rotated.keys) == {ring.active, rotated.active}
    assert load_keys_file(tmp_path / "k.yml") == rotated
    assert stat.S_IMODE((tmp_path / "k.yml").stat().st_mode) == 0o600
    with pytest.raises(KeyringError):
        retire_key(rotated, rotated.active)
    assert set(retire_key(rotated, ring.active).keys) == {rotated.active}
