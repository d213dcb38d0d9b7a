"""Fixtures for the privacy suite: keyrings, encrypted stores and a raw scan of the storage."""

from __future__ import annotations

import base64
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from caseline.crypto import FieldCipher
from caseline.keyring import Keyring
from caseline.store.base import ConversationStore
from caseline.store.factory import Backend, conversation_store


def ring(*kids: str, keys: dict[str, bytes] | None = None) -> Keyring:
    keys = dict(keys or {})
    for kid in kids:
        keys.setdefault(kid, os.urandom(32))
    return Keyring(active=kids[0], keys={k: keys[k] for k in kids})


@pytest.fixture
def keyring() -> Keyring:
    return ring("k1")


async def open_store(backend: Backend, cipher: FieldCipher | None) -> ConversationStore:
    store = conversation_store(backend, cipher)
    await store.open()
    return store


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def raw_strings(backend: Backend, tmp_path: Path) -> list[str]:
    """Every string stored anywhere: every text column of every table of every SQLite file,
    or every string field (recursively) of every document of every collection."""
    if backend.sqlite is not None:
        backend_files = list(tmp_path.glob("*.sqlite3"))
        assert backend_files, "no SQLite files found"
        out: list[str] = []
        for path in backend_files:
            conn = sqlite3.connect(path)
            try:
                tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                for table in tables:
                    for row in conn.execute(f"SELECT * FROM {table}"):  # noqa: S608
                        out += [v for v in row if isinstance(v, str)]
                        out += [v.decode("utf-8", "replace") for v in row if isinstance(v, bytes)]
            finally:
                conn.close()
        return out
    raw = getattr(backend.mongo, "raw", None)
    if raw is None:
        pytest.skip("raw scan needs the in-process MongoDB fake")
    db = raw()
    return [s for name in db.list_collection_names() for doc in db[name].find({}) for s in _strings(doc)]


def leaks(backend: Backend, tmp_path: Path, *needles: str) -> list[str]:
    return [s for s in raw_strings(backend, tmp_path) for n in needles if n in s]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
