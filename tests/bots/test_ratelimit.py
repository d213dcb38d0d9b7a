"""Per-chat buckets stay bounded without scanning every chat on each new one."""

from __future__ import annotations

from bots.ratelimit import KeyedBuckets


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_idle_buckets_are_evicted_oldest_first_and_busy_ones_kept() -> None:
    clock = Clock()
    buckets = KeyedBuckets(rate=1.0, burst=1.0, max_keys=3, now=clock)
    buckets.get("busy").take()  # spent its token: not idle until refilled
    for key in ("a", "b", "c"):
        buckets.get(key)
    assert len(buckets) == 4  # the busy bucket at the front holds the sweep
    clock.t = 5.0  # every bucket refilled
    buckets.get("d")
    assert len(buckets) == 3
    assert buckets.get("d") is buckets.get("d")


def test_many_chats_stay_within_the_limit() -> None:
    buckets = KeyedBuckets(rate=1.0, burst=3.0, max_keys=100, now=Clock())
    for n in range(10_000):
        buckets.get(f"chat{n}")
    assert len(buckets) == 100
