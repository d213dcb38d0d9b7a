"""Benchmark the embedded NLU: cold train, warm load, parse latency and throughput.

Run: ``python bench/bench_nlu.py`` (single process, one message at a time, as the service
parses). Messages are the training examples plus the held-out OOS set, lightly varied.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlu.embedded import DATA_DIR, EmbeddedNlu  # noqa: E402
from nlu.rasa_data import load_dir, read_file  # noqa: E402

N_MESSAGES = 5000


def messages(n: int) -> list[str]:
    rng = random.Random(7)
    pool = [e.text for e in load_dir(DATA_DIR).examples]
    pool += [e.text for e in read_file(DATA_DIR / "oos_eval.yml", "").examples]
    tails = ["", "", " pls", " what do i do", "!!", " my 6 year old", " on insta"]
    return [rng.choice(pool) + rng.choice(tails) for _ in range(n)]


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        EmbeddedNlu.load(cache_dir=Path(cache))
        cold = time.perf_counter() - started
        started = time.perf_counter()
        nlu = EmbeddedNlu.load(cache_dir=Path(cache))
        warm = time.perf_counter() - started
        assert nlu.from_cache
    batch = messages(N_MESSAGES)
    for text in batch[:200]:  # warm the per-token memo as a running service would
        nlu.parse_sync(text)
    latencies = []
    started = time.perf_counter()
    for text in batch:
        t0 = time.perf_counter()
        nlu.parse_sync(text)
        latencies.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    print(f"cold train (load + train + cache write): {cold:.2f} s")
    print(f"warm load (from cache):                  {warm:.3f} s")
    print(f"parse p50: {statistics.median(latencies) * 1e3:.3f} ms, p99: {p99 * 1e3:.3f} ms")
    print(f"throughput: {len(batch) / total:,.0f} parses/s on one core ({len(batch)} messages)")


if __name__ == "__main__":
    main()
