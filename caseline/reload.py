"""Live content reload: validate first, swap only if valid, never lose the old version.

A running server reloads on SIGHUP; ``caseline flows reload`` validates the content
and then signals every server process that registered a pid file in the data directory.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from caseline.pipeline import Stages
from flows.errors import FlowContentError

log = logging.getLogger("caseline.reload")


def reload_flows(stages: Stages, snapshot_dir: Path | None) -> bool:
    """Swap in freshly loaded flows; on invalid content keep serving the old ones."""
    try:
        stages.flows = stages.flows.reload(snapshot_dir=snapshot_dir)
    except FlowContentError as exc:
        log.error("flow content refused, old version keeps serving: %s", exc)
        return False
    log.info("flow content reloaded")
    return True


def pid_dir(data_dir: Path) -> Path:
    return data_dir / "run"


def register_pid(data_dir: Path) -> Path:
    path = pid_dir(data_dir) / f"caseline-{os.getpid()}.pid"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(os.getpid()), encoding="utf-8")
    return path


def signal_servers(data_dir: Path) -> list[int]:
    """Send SIGHUP to every live server of this data directory; drop stale pid files."""
    signalled: list[int] = []
    for path in sorted(pid_dir(data_dir).glob("caseline-*.pid")):
        try:
            pid = int(path.read_text(encoding="utf-8").strip())
            os.kill(pid, signal.SIGHUP)
        except (ValueError, ProcessLookupError, PermissionError):
            path.unlink(missing_ok=True)
            continue
        signalled.append(pid)
    return signalled
