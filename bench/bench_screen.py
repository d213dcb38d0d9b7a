"""Benchmark the ``caseline screen`` path: 100,000 mixed JSON lines through the CLI.

Why: the rule layer must keep up with peak traffic on one core (target >= 5,000
messages/second) and answer inside the same turn (p99 latency). Throughput is measured
through ``python -m safeguarding.cli screen`` in a subprocess (JSON in, JSON out, start-up
included); per-message latency is measured in-process on the same lines.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from safeguarding.cli import screen_line  # noqa: E402
from safeguarding.screen import RiskScreen  # noqa: E402

N = 100_000
RISK = [
    "I want to die", "my stepdad hits me", "he says it's our secret", "i want to k1ll mys3lf",
    "хочу умереть", "hochu umeret", "vreau să mor", "хоћу да умрем", "zelim da umrem",
    "мене б'є вітчим", "he'll post my nudes unless I pay by tonight", "s u i c i d e",
    "I took all my mum's pills", "my uncle touches me", "Меня изнасиловали",
]
BENIGN = [
    "how much screen time is ok for a {n} year old?", "this homework is killing me",
    "when is my next probation appointment?", "my son cut his finger cooking",
    "как настроить родительский контроль?", "cum setez controlul parental?",
    "kako da podesim roditeljsku kontrolu?", "I'm dying of laughter at {name}",
    "what should I pack for the school trip on {day}?", "чи безпечний вайбер для підлітка?",
    "my daughter wants to dye her hair {colour}", "we watched {name} play football",
]
FILL = ["honestly", "idk", "lol", "please", "ok", "so", "today", "again", "rn", "pls help"]
NAMES = ["Ana", "Ivan", "Sam", "Olena", "Marko", "Ioana", "Tom", "Dasha"]


def make_lines(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        base = rng.choice(RISK) if rng.random() < 0.3 else rng.choice(BENIGN)
        text = base.format(n=rng.randint(3, 17), name=rng.choice(NAMES),
                           day=rng.choice(["monday", "friday"]), colour=rng.choice(["red", "blue"]))
        text = " ".join([rng.choice(FILL), text, str(rng.randint(0, 9999))])
        obj: dict[str, object] = {"id": i, "text": text}
        if rng.random() < 0.2:
            obj["history"] = [rng.choice(BENIGN).format(n=5, name="Ana", day="monday",
                                                        colour="red") for _ in range(3)]
        lines.append(json.dumps(obj, ensure_ascii=False))
    return lines


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    lines = make_lines(N)
    data = ("\n".join(lines) + "\n").encode("utf-8")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "safeguarding.cli", "screen"], input=data,
                          capture_output=True, cwd=ROOT, check=True)
    elapsed = time.perf_counter() - start
    out = proc.stdout.decode("utf-8").splitlines()
    assert len(out) == N, f"expected {N} output lines, got {len(out)}"
    flagged = sum(1 for line in out if json.loads(line).get("severity") not in ("none", None))
    print(f"CLI subprocess: {N} messages in {elapsed:.2f}s -> {N / elapsed:,.0f} messages/second "
          f"(start-up included; {flagged} flagged)")

    start = time.perf_counter()
    screen = RiskScreen.load()  # lexicons compiled, learned layer from the warm cache
    print(f"load: {time.perf_counter() - start:.2f}s (target under 1 s with a warm model cache)")
    latencies = []
    for line in lines:
        t0 = time.perf_counter()
        screen_line(screen, line)
        latencies.append((time.perf_counter() - t0) * 1000)
    total = sum(latencies) / 1000
    print(f"in-process: {N / total:,.0f} messages/second; latency p50 "
          f"{percentile(latencies, 0.5):.3f} ms, p99 {percentile(latencies, 0.99):.3f} ms, "
          f"max {max(latencies):.3f} ms")


if __name__ == "__main__":
    main()
