"""Sliding-window rate limits for logins: per account and per client address.

In memory and per process: with several processes each keeps its own windows, so the
effective limit is the configured one times the number of processes. The account
lockout in the store (see :mod:`casework.accounts`) is the shared, durable backstop.
"""

from __future__ import annotations

import math
from collections import deque


class SlidingWindow:
    """At most ``limit`` events per key in any ``window``-second span."""

    def __init__(self, limit: int, window: float, max_keys: int = 100_000) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}

    def _prune(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            if len(self._events) >= self.max_keys:
                self._evict(now)
            events = self._events[key] = deque()
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def _evict(self, now: float) -> None:
        for key in [k for k, v in self._events.items() if not v or v[-1] <= now - self.window]:
            del self._events[key]
        if len(self._events) >= self.max_keys:  # still full of live keys: drop the oldest
            oldest = min(self._events, key=lambda k: self._events[k][-1])
            del self._events[oldest]

    def hit(self, key: str, now: float) -> int | None:
        """Count an attempt; None if it is allowed, else the seconds until one would be."""
        events = self._prune(key, now)
        if len(events) >= self.limit:
            return max(1, math.ceil(events[0] + self.window - now))
        events.append(now)
        return None

    def reset(self, key: str) -> None:
        self._events.pop(key, None)
