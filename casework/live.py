"""In-process fan-out of queue changes to open consoles (server-sent events).

Events carry ids and severities only, never message text; a console that gets one
re-reads the queue through the API, where the team rule applies. Consoles served by
another process don't see these and fall back to polling.
"""

from __future__ import annotations

import asyncio
from typing import Any


class ConsoleHub:
    def __init__(self) -> None:
        self._subscribers: dict[asyncio.Queue[dict[str, Any]], frozenset[str]] = {}

    def subscribe(self, teams: tuple[str, ...]) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=100)
        self._subscribers[queue] = frozenset(teams)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.pop(queue, None)

    def publish(self, team: str, event: dict[str, Any]) -> None:
        for queue, teams in list(self._subscribers.items()):
            if team in teams and not queue.full():
                queue.put_nowait({**event, "team": team})

    @property
    def listeners(self) -> int:
        return len(self._subscribers)
