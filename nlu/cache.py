"""On-disk cache of the trained model, keyed by the data and the engine config.

Training takes seconds; a warm start only unpickles arrays and dicts. The key is a SHA-256
over every training file (path and bytes) and the engine config, so editing data or code
settings retrains, and nothing stale is ever loaded. The cache dir is the service's own
(never user-supplied): pickles from elsewhere must not be put there.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from caseline.pickle_cache import load_pickle, save_pickle
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
    return load_pickle(path, TrainedModel)


def save(path: Path, model: TrainedModel) -> None:
    save_pickle(path, model)
