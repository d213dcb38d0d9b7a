"""Structured JSON logs with a correlation id, and nothing personal in them.

Log calls never pass message text, platform ids or secrets; the formatter also drops
any record attribute that is not on its allow-list, so an ``extra=`` cannot leak them.
"""

from __future__ import annotations

import json
import logging
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

correlation_id: ContextVar[str] = ContextVar("correlation_id", default="-")

QUIET_LOGGERS = ("aiosqlite", "pymongo", "aiohttp.access")

ALLOWED_EXTRA = frozenset({"channel", "case_id", "severity", "status", "attempts", "route", "duration_ms"})


def new_correlation_id() -> str:
    return uuid.uuid4().hex[:16]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "cid": correlation_id.get(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k in ALLOWED_EXTRA})
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str = "info", fmt: str = "json") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Database drivers log statements with their values (message text, hashes) at DEBUG.
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger(noisy).level))
