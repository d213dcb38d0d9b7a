"""Master keys (key-encryption keys, KEKs) for envelope encryption at rest.

Message data is encrypted under per-contact data keys (see :mod:`caseline.crypto`); the
data keys are stored wrapped by a master key from this keyring. Each master key has a
key id (``kid``) recorded beside every wrapped data key, so a keyring may hold several
keys during a rotation: the ``active`` one wraps new data keys, the others only unwrap.

Sources, first found wins:

* ``CASELINE_KEYS="k2:<base64>,k1:<base64>"`` (the first is active): for deployments
  whose secret manager injects environment variables;
* a YAML file (setting ``keys_file``): ``{active: k2, keys: {k1: <base64>, k2: <base64>}}``;
* for the demo only, ``<data_dir>/keys.yml``, generated with mode 0600 if missing.

Keys are 32 random bytes (AES-256). The keys file must never be stored next to backups
of the data: whoever holds both holds every child's conversation.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from caseline.settings import Settings

KEY_BYTES = 32
ENV_VAR = "CASELINE_KEYS"
_KID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class KeyringError(Exception):
    """The keyring is missing, malformed, or lacks a key that data refers to."""


@dataclass(frozen=True)
class Keyring:
    active: str
    keys: Mapping[str, bytes]
    path: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise KeyringError(f"active key {self.active!r} is not in the keyring")
        for kid, key in self.keys.items():
            if not _KID.match(kid):
                raise KeyringError(f"bad key id {kid!r} (letters, digits, _ and - only)")
            if len(key) != KEY_BYTES:
                raise KeyringError(f"key {kid!r} must be {KEY_BYTES} bytes, got {len(key)}")

    def kek(self, kid: str) -> bytes:
        try:
            return self.keys[kid]
        except KeyError:
            raise KeyringError(f"master key {kid!r} is not in the keyring (was it retired too early?)") from None

    @property
    def source(self) -> str:
        return str(self.path) if self.path is not None else f"${ENV_VAR}"


def _decode(kid: str, value: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyringError(f"key {kid!r} is not valid base64") from exc


def parse_env(value: str) -> Keyring:
    """``k2:<base64>,k1:<base64>``; the first key is the active one."""
    keys: dict[str, bytes] = {}
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        kid, sep, b64 = part.partition(":")
        if not sep:
            raise KeyringError(f"{ENV_VAR}: expected kid:base64, got an entry without ':'")
        keys[kid.strip()] = _decode(kid.strip(), b64)
    if not keys:
        raise KeyringError(f"{ENV_VAR} is empty")
    return Keyring(active=next(iter(keys)), keys=keys)


def load_keys_file(path: Path) -> Keyring:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KeyringError(f"cannot read keys file {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), dict) or "active" not in data:
        raise KeyringError(f"keys file {path}: expected {{active: kid, keys: {{kid: base64}}}}")
    keys = {str(k): _decode(str(k), str(v)) for k, v in data["keys"].items()}
    return Keyring(active=str(data["active"]), keys=keys, path=path)


def _write(path: Path, ring: Keyring) -> None:
    """Write atomically with mode 0600 from the start (never world-readable, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"active": ring.active, "keys": {k: base64.b64encode(v).decode() for k, v in ring.keys.items()}}
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("# Caseline master keys. Keep secret; back up separately from the data.\n")
            yaml.safe_dump(doc, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def new_kid(existing: Mapping[str, bytes]) -> str:
    kid = "k" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    while kid in existing:
        kid += "x"
    return kid


def generate_keys_file(path: Path) -> Keyring:
    """Create a keys file with one fresh active key (mode 0600); refuses to overwrite."""
    if path.exists():
        raise KeyringError(f"{path} exists; refusing to overwrite master keys")
    kid = new_kid({})
    ring = Keyring(active=kid, keys={kid: secrets.token_bytes(KEY_BYTES)}, path=path)
    _write(path, ring)
    return ring


def add_active_key(ring: Keyring) -> Keyring:
    """Add a fresh key, make it active, and save the file (old keys stay for unwrapping)."""
    if ring.path is None:
        raise KeyringError(f"keys come from ${ENV_VAR}: put the new key first there, then run the rotation")
    kid = new_kid(ring.keys)
    updated = Keyring(active=kid, keys={**ring.keys, kid: secrets.token_bytes(KEY_BYTES)}, path=ring.path)
    _write(ring.path, updated)
    return updated


def retire_key(ring: Keyring, kid: str) -> Keyring:
    """Drop a non-active key from the file (only once no wrapped data key uses it)."""
    if ring.path is None:
        raise KeyringError(f"keys come from ${ENV_VAR}: remove the key there")
    if kid == ring.active:
        raise KeyringError("cannot retire the active key")
    ring.kek(kid)
    updated = Keyring(active=ring.active, keys={k: v for k, v in ring.keys.items() if k != kid}, path=ring.path)
    _write(ring.path, updated)
    return updated


def load_keyring(
    keys_file: Path | None, data_dir: Path | None = None, env: Mapping[str, str] | None = None,
) -> Keyring:
    """Environment first, then ``keys_file``, then (demo) ``data_dir/keys.yml``, generated if missing."""
    env = os.environ if env is None else env
    if env.get(ENV_VAR):
        return parse_env(env[ENV_VAR])
    if keys_file is not None:
        return load_keys_file(keys_file)
    if data_dir is None:
        raise KeyringError(f"no master keys: set {ENV_VAR} or the keys_file setting")
    demo = data_dir / "keys.yml"
    return load_keys_file(demo) if demo.exists() else generate_keys_file(demo)


def keyring_for(settings: Settings) -> Keyring | None:
    """The keyring the settings ask for; ``None`` when encryption at rest is switched off.

    Reads ``keys_file`` and ``encrypt_at_rest`` if the settings have them (see the wiring
    notes), so this works before and after those fields exist.
    """
    if not getattr(settings, "encrypt_at_rest", True):
        return None
    keys_file = getattr(settings, "keys_file", None)
    return load_keyring(Path(keys_file) if keys_file else None, settings.data_dir)
