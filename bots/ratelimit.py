"""Token buckets that keep outbound traffic under each platform's published rate limits.

Platforms answer bursts with 429s and, if pushed, temporary bans; pacing in the sender
is cheaper than being told off. Waits are short: a sender that would have to wait long
returns ``SendResult.retry`` instead, so an outbox lease is never held idle.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

Now = Callable[[], float]


class TokenBucket:
    """``rate`` tokens a second, holding at most ``burst``."""

    def __init__(self, rate: float, burst: float, now: Now = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._now = now
        self._tokens = burst
        self._stamp = now()

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def delay(self) -> float:
        """Seconds until one token is available (0 if now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def take(self) -> float:
        """Reserve a token; returns how long the caller must wait before using it."""
        wait = self.delay()
        self._tokens -= 1
        return wait

    @property
    def idle(self) -> bool:
        self._refill()
        return self._tokens >= self.burst


class KeyedBuckets:
    """One bucket per key (a chat, a phone number), with idle buckets evicted past ``max_keys``.

    Without eviction a long-running process would keep a bucket for every contact forever.
    """

    def __init__(self, rate: float, burst: float, max_keys: int = 10_000, now: Now = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._now = now
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def get(self, key: str) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self._now)
            self._evict()
        self._buckets.move_to_end(key)
        return bucket

    def _evict(self) -> None:
        """Drop idle buckets from the least recently used end; O(1) amortised per new key.

        A busy bucket at the front stops the sweep (it is kept, and so are the keys behind
        it), so the map may briefly exceed ``max_keys`` while many chats are active.
        """
        while len(self._buckets) > self.max_keys:
            oldest = next(iter(self._buckets))
            if not self._buckets[oldest].idle:
                return
            del self._buckets[oldest]

    def __len__(self) -> int:
        return len(self._buckets)


class Pacer:
    """A per-key bucket under one overall bucket: Telegram's 1 msg/s per chat and 30 msg/s in all."""

    def __init__(self, per_key: KeyedBuckets, overall: TokenBucket, max_wait: float = 5.0) -> None:
        self.per_key = per_key
        self.overall = overall
        self.max_wait = max_wait

    async def acquire(self, key: str) -> float | None:
        """Wait for a slot and return None, or return the delay to retry after if it is too long."""
        bucket = self.per_key.get(key)
        ahead = max(bucket.delay(), self.overall.delay())
        if ahead > self.max_wait:
            return ahead
        wait = max(bucket.take(), self.overall.take())
        if wait > 0:
            await asyncio.sleep(wait)
        return None
