"""On-disk cache of the trained model, keyed by the data and the engine config.

Training takes seconds; a warm start only unpickles arrays and dicts. The key is a SHA-256
over every training file (path and bytes) and the engine config, so editing data or code
settings retrains, and nothing stale is ever loaded. The cache dir is the service's own
(never user-supplied): pickles from elsewhere must not be put there.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path

from nlu.model import EngineConfig, TrainedModel
from nlu.rasa_data import data_files

HELD_OUT = frozenset({"oos_eval.yml"})


def cache_key(data_dir: Path, config: EngineConfig) -> str:
    digest = hashlib.sha256(json.dumps(config.as_dict(), sort_keys=True).encode())
    for path, lang in data_files(data_dir):
        if path.name in HELD_OUT:
            continue
        digest.update(f"\0{lang}/{path.name}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"embedded-nlu-{key[:32]}.pkl"


def load(path: Path) -> TrainedModel | None:
    try:
        with path.open("rb") as fh:
            model = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    return model if isinstance(model, TrainedModel) else None


def save(path: Path, model: TrainedModel) -> None:
    """Write atomically, so a concurrent start never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pkl")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
