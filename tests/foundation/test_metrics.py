"""/metrics exposes the series operators alert on, and they move with traffic."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.foundation.conftest import new_session

SERIES = (
    "caseline_messages_in_total",
    "caseline_messages_out_total",
    "caseline_turn_latency_seconds_bucket",
    "caseline_delivery_latency_seconds_bucket",
    "caseline_screen_hits_total",
    "caseline_nlu_fallbacks_total",
    "caseline_escalations_total",
    "caseline_sla_breaches_total",
    "caseline_queue_depth",
    "caseline_outbox_backlog",
)


def _value(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


async def test_metrics_expose_the_listed_series(client: TestClient[Any, Any]) -> None:
    sid = await new_session(client)
    for text in ("hi", "I want to kill myself", "zzqx blorp"):
        assert (await client.post("/webchat/messages", json={"session_id": sid, "text": text})).status == 200
    await client.post("/webchat/messages", json={"session_id": sid, "text": "hi", "client_message_id": "d"})
    await client.post("/webchat/messages", json={"session_id": sid, "text": "hi", "client_message_id": "d"})
    r = await client.get("/metrics")
    assert r.status == 200 and r.content_type == "text/plain"
    body = await r.text()
    for series in SERIES:
        assert series in body, series
    assert _value(body, 'caseline_messages_in_total{channel="webchat"}') == 4
    assert _value(body, 'caseline_duplicate_deliveries_total{channel="webchat"}') == 1
    assert _value(body, 'caseline_screen_hits_total{category="suicide"') >= 1
    assert _value(body, 'caseline_turn_latency_seconds_count{channel="webchat"}') == 4
    assert "kill myself" not in body  # no message text in metrics
