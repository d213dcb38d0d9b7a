"""Every flow version the engine knows, so a session finishes on the version it began.

Versions are keyed by ``(flow id, rev)`` where ``rev`` is ``v<version>-<content hash>``;
``current`` says which rev new runs start on. A reload adds versions, never drops them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flows.spec import EngineConfig, Flow


@dataclass(frozen=True, slots=True)
class Library:
    config: EngineConfig
    versions: Mapping[tuple[str, str], Flow]
    current: Mapping[str, str]

    def latest(self, flow_id: str) -> Flow | None:
        rev = self.current.get(flow_id)
        return self.versions.get((flow_id, rev)) if rev else None

    def pinned(self, flow_id: str, rev: str) -> Flow | None:
        return self.versions.get((flow_id, rev))

    def merged_with(self, older: Library) -> Library:
        """This library plus every version ``older`` knew (current revs come from self)."""
        return Library(self.config, {**older.versions, **self.versions}, self.current)

    @classmethod
    def of(cls, config: EngineConfig, flows: list[Flow]) -> Library:
        return cls(config, {(f.id, f.rev): f for f in flows}, {f.id: f.rev for f in flows})
