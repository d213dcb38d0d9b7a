"""SLA alerts with a fake clock: one alert per notifier, to a local fake Telegram API and webhook."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.casework.conftest import FakeClock
from tests.casework.harness import casework, child_says, open_case

SECRET_TEXT = "my stepdad hits me every night"


@pytest.fixture
async def receivers() -> Any:
    got: dict[str, list[dict[str, Any]]] = {"telegram": [], "webhook": []}

    async def telegram(request: web.Request) -> web.Response:
        assert request.match_info["token"] == "123456789:AAHfakeTokenForTestsOnly0123456789ab"
        got["telegram"].append(await request.json())
        return web.json_response({"ok": True, "result": {"message_id": 1}})

    async def webhook(request: web.Request) -> web.Response:
        got["webhook"].append(await request.json())
        return web.json_response({}, status=204)

    app = web.Application()
    app.router.add_post("/bot{token}/sendMessage", telegram)
    app.router.add_post("/hook", webhook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, got
    await server.close()


@pytest.mark.parametrize("kind", ["sqlite", "mongo-fake"])
async def test_unclaimed_critical_case_alerts_once_per_notifier(
    kind: str,
    receivers: Any,
    make_services: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, got = receivers
    base = str(server.make_url("")).rstrip("/")
    config = tmp_path / "casework.yml"
    config.write_text(
        f"alerts:\n  telegram_chat_id: '-1001'\n  webhook_url: '{base}/hook'\n", encoding="utf-8"
    )
    monkeypatch.setenv("CASELINE_CASEWORK_CONFIG", str(config))
    from tests.casework.conftest import open_backend_for

    backend, close = await open_backend_for(kind, tmp_path)
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    services = await make_services(
        backend=backend,
        clock=clock,
        telegram_token="123456789:AAHfakeTokenForTestsOnly0123456789ab",
        telegram_api_base=base,
        public_url="https://caseline.example",
    )
    await services.store.ensure_conversation("c_1", "webchat", "user-c_1")
    await child_says(services, "c_1", SECRET_TEXT, 1)
    case_id = await open_case(services, "c_1", severity="critical", seq=99)
    sweeper = casework(services).sweeper
    assert await sweeper.run_once() == 0, "not yet due"
    clock.advance(minutes=6)
    assert await sweeper.run_once() == 2
    clock.advance(minutes=30)
    assert await sweeper.run_once() == 0, "exactly one alert per breach kind per notifier"
    assert len(got["telegram"]) == 1 and len(got["webhook"]) == 1
    assert got["telegram"][0]["chat_id"] == "-1001"
    assert got["webhook"][0]["case_id"] == case_id and got["webhook"][0]["severity"] == "critical"
    assert f"https://caseline.example/console/cases/{case_id}" in got["telegram"][0]["text"]
    raw = json.dumps(got)
    for private in ("stepdad", "hits", "c_1", "user-c_1"):
        assert private not in raw
    assert sorted(await casework(services).store.alerts(case_id)) == [
        ("critical_unclaimed", "metrics"),  # counted once in caseline_sla_breaches_total
        ("critical_unclaimed", "telegram"),
        ("critical_unclaimed", "webhook"),
        ("no_worker", "contact"),
    ]
    await close()


async def test_failed_alert_is_retried_next_sweep(
    make_services: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "casework.yml"
    config.write_text("alerts:\n  webhook_url: 'http://127.0.0.1:9/unreachable'\n", encoding="utf-8")
    monkeypatch.setenv("CASELINE_CASEWORK_CONFIG", str(config))
    clock = FakeClock(datetime.now(UTC))
    services = await make_services(clock=clock)
    case_id = await open_case(services, "c_1", severity="high")
    clock.advance(minutes=31)
    assert await casework(services).sweeper.run_once() == 0
    # The failed webhook alert is released for the next sweep; the breach itself is counted once.
    alerts = sorted(await casework(services).store.alerts(case_id))
    assert alerts == [("no_worker", "contact"), ("sla_breach", "metrics")]
    await casework(services).http.close()


async def test_lapsed_claim_returns_to_queue(make_services: Any) -> None:
    clock = FakeClock(datetime.now(UTC))
    services = await make_services(clock=clock)
    cw = casework(services)
    case_id = await open_case(services, "c_1")
    await cw.accounts.create("t", "ana", "case_worker", ["default"], "correct horse battery")
    ana = await cw.store.get_user("ana")
    assert ana is not None
    await cw.desk.claim(ana, case_id)
    assert await cw.store.handling_case("c_1") == case_id
    clock.advance(minutes=11)
    await cw.sweeper.run_once()
    case = await cw.store.get(case_id)
    assert case is not None and case.status == "waiting" and case.assignee is None
