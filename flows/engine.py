"""The flow engine's public face: load content, step a session, reload without losing runs.

``FlowEngine`` is immutable. ``step`` is pure: the same session, fields and input
always give the same result, with no I/O and no clock. ``reload`` builds a new engine
that still knows every version the old one did, so sessions that started on an old
version finish on it; invalid content raises :class:`FlowContentError` and the
caller keeps the engine it has.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows import runner
from flows.check import SHIPPED_CONTENT, check_dir
from flows.errors import FlowContentError, errors_in
from flows.events import FlowInput, StepResult
from flows.library import Library
from flows.loader import build_config, build_flow
from flows.spec import Flow


@dataclass(frozen=True, slots=True)
class FlowEngine:
    library: Library

    @classmethod
    def load(
        cls, content_dir: Path | None = None, snapshot_dir: Path | None = None
    ) -> FlowEngine:
        """Load and check ``content_dir`` (default: the shipped content).

        With ``snapshot_dir``, every loaded version is written there and versions found
        there are loaded back, so pinned sessions survive a restart.
        """
        library = _load_library(content_dir or SHIPPED_CONTENT)
        if snapshot_dir is not None:
            library = _with_snapshots(library, snapshot_dir)
        return cls(library)

    def reload(
        self, content_dir: Path | None = None, snapshot_dir: Path | None = None
    ) -> FlowEngine:
        """A new engine on fresh content that still runs every version this one knew."""
        fresh = FlowEngine.load(content_dir, snapshot_dir)
        return FlowEngine(fresh.library.merged_with(self.library))

    def step(
        self, session: Mapping[str, Any] | None, fields: Mapping[str, str], inp: FlowInput
    ) -> StepResult:
        return runner.step(self.library, session, fields, inp)

    def flow(self, flow_id: str, rev: str | None = None) -> Flow | None:
        return self.library.pinned(flow_id, rev) if rev else self.library.latest(flow_id)


def _load_library(content_dir: Path) -> Library:
    sources, problems = check_dir(content_dir)
    errors = errors_in(problems)
    if errors:
        raise FlowContentError(errors)
    config = next(s for s in sources if s.is_config)
    assert config.data is not None
    flows = [build_flow(s.data, s.name) for s in sources if s.data is not None and not s.is_config]
    return Library.of(build_config(config.data), flows)


def _with_snapshots(library: Library, snapshot_dir: Path) -> Library:
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    for flow in library.versions.values():
        path = snapshot_dir / f"{flow.id}@{flow.rev}.json"
        if not path.exists():
            data = {"file": flow.file, "flow": dict(flow.data)}
            path.write_text(json.dumps(data, ensure_ascii=False, sort_keys=True), "utf-8")
    older: list[Flow] = []
    for path in sorted(snapshot_dir.glob("*@*.json")):
        try:
            saved = json.loads(path.read_text("utf-8"))
            older.append(build_flow(saved["flow"], str(saved.get("file", ""))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return library.merged_with(Library(library.config, {(f.id, f.rev): f for f in older}, {}))
