"""Pickled start-up artefacts (compiled lexicons, the screen's and the NLU's models) in the service's cache dir.

Why: compiling the lexicons takes about 1.5 s and training a model seconds to a minute,
while unpickling takes a fraction of a second. Keys hash every input file and the code that
reads them, so an edit rebuilds and nothing stale is loaded. The cache dir is the
service's own (never user-supplied): pickles from elsewhere must not be put there.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def content_key(label: str, files: Iterable[Path], root: Path | None = None) -> str:
    digest = hashlib.sha256(label.encode())
    for path in files:
        name = path.relative_to(root).as_posix() if root and path.is_relative_to(root) else path.name
        digest.update(f"\0{name}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_pickle(path: Path, kind: type[T]) -> T | None:
    """The cached object, or None if it is missing, unreadable or not a ``kind``."""
    try:
        with path.open("rb") as fh:
            obj = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError, TypeError):
        return None
    return obj if isinstance(obj, kind) else None


def save_pickle(path: Path, obj: object) -> None:
    """Atomic write, so a concurrent start never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pkl")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
