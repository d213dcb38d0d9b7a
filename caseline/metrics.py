"""Prometheus metrics, one registry per service instance (so tests can build many).

Stages report what happened through small methods here; gauges that live in the store
(outbox backlog, queue depth) are read at scrape time by registered async probes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

Probe = Callable[[], Awaitable[None]]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages_in = Counter("caseline_messages_in", "Inbound messages accepted", ["channel"], registry=r)
        self.duplicates = Counter(
            "caseline_duplicate_deliveries", "Platform retries recognised as duplicates", ["channel"], registry=r
        )
        self.messages_out = Counter("caseline_messages_out", "Replies delivered", ["channel"], registry=r)
        self.send_failures = Counter(
            "caseline_send_failures", "Delivery attempts that failed", ["channel", "kind"], registry=r
        )
        self.turn_latency = Histogram(
            "caseline_turn_latency_seconds", "Message received to turn committed", ["channel"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.delivery_latency = Histogram(
            "caseline_delivery_latency_seconds", "Reply queued to reply delivered", ["channel"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.screen_hits = Counter(
            "caseline_screen_hits", "Risk screen matches by category and severity", ["category", "severity"],
            registry=r,
        )
        self.nlu_fallbacks = Counter("caseline_nlu_fallbacks", "Messages the NLU could not place", registry=r)
        self.escalations = Counter("caseline_escalations", "Cases opened or added to", ["severity"], registry=r)
        self.sla_breaches = Counter("caseline_sla_breaches", "Cases past their SLA", ["severity"], registry=r)
        self.queue_depth = Gauge("caseline_queue_depth", "Open cases waiting, by severity", ["severity"], registry=r)
        self.outbox_backlog = Gauge("caseline_outbox_backlog", "Replies not yet delivered", registry=r)
        self._probes: list[Probe] = []

    def add_probe(self, probe: Probe) -> None:
        self._probes.append(probe)

    async def render(self) -> bytes:
        for probe in self._probes:
            await probe()
        return bytes(generate_latest(self.registry))

    def screened(self, categories: Iterable[str], severity: str) -> None:
        for category in categories:
            self.screen_hits.labels(category, severity).inc()


def seconds_since(start: datetime, now: datetime) -> float:
    return max(0.0, (now - start).total_seconds())
