"""Spec migrations: old flow files keep loading after the format changes.

Each migration takes the data of spec ``n`` and returns data of spec ``n + 1``;
they are applied in order until the data reaches :data:`flows.spec.SPEC_VERSION`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flows.spec import SPEC_VERSION

Migration = Callable[[Mapping[str, Any]], dict[str, Any]]


def _v1_to_v2(data: Mapping[str, Any]) -> dict[str, Any]:
    """Spec 2 renamed a node's ``kind`` to ``type`` and a flow's ``title`` to ``name``."""
    out = {k: v for k, v in data.items() if k != "title"}
    if "title" in data and "name" not in data:
        out["name"] = data["title"]
    nodes = data.get("nodes")
    if isinstance(nodes, list):
        out["nodes"] = [_rename(n, "kind", "type") for n in nodes]
    out["spec_version"] = 2
    return out


def _rename(node: Any, old: str, new: str) -> Any:
    if not isinstance(node, Mapping) or old not in node or new in node:
        return node
    return {(new if k == old else k): v for k, v in node.items()}


MIGRATIONS: dict[int, Migration] = {1: _v1_to_v2}


class MigrationError(ValueError):
    pass


def migrate(data: Mapping[str, Any]) -> dict[str, Any]:
    """Bring ``data`` up to the current spec; raise :class:`MigrationError` if impossible."""
    version = data.get("spec_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise MigrationError("spec_version must be an integer")
    if version > SPEC_VERSION:
        raise MigrationError(f"spec_version {version} is newer than this engine ({SPEC_VERSION})")
    out = dict(data)
    while version < SPEC_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise MigrationError(f"no migration from spec_version {version}")
        out = step(out)
        version = out["spec_version"]
    return out
