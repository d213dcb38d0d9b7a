"""The whole check-in cycle through the Telegram webhook and the fake Bot API, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from caseline.identity import contact_id
from tests.probation.conftest import CHAT, World

SCHEDULE = {"kind": "daily", "at": "09:00", "zone": "Europe/Bucharest"}


async def enrol(world: World, **extra: Any) -> dict[str, Any]:
    body = {"alias": "R.", "schedule": SCHEDULE, "window_hours": 24, **extra}
    resp = await world.api("POST", "/probation/enrolments", json=body)
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def link_and_onboard(world: World, code: str) -> None:
    await world.send_text(f"/start {code}")
    assert any("linked to your probation officer" in t for t in world.texts()), world.texts()
    await world.press("English")
    await world.press("Yes, that's OK")
    await world.press("On probation")


async def read_record(world: World, enrolment_id: str) -> dict[str, Any]:
    resp = await world.api("GET", f"/probation/enrolments/{enrolment_id}")
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def missed_cases(world: World) -> list[dict[str, Any]]:
    resp = await world.api("GET", "/cases")
    assert resp.status == 200, await resp.text()
    return [c for c in (await resp.json())["cases"] if c["reason"] == "probation_missed"]


async def test_enrol_link_remind_check_in_remind_miss_alert_once(world: World) -> None:
    data = await enrol(world)
    code, enrolment_id = data["link"]["code"], data["enrolment"]["id"]
    assert data["link"]["telegram"].endswith(f"?start={code}") and data["link"]["whatsapp_viber"] == f"LINK {code}"

    await link_and_onboard(world, code)
    contact = contact_id(world.services.settings.secret_key, "telegram", str(CHAT))
    conv = await world.services.store.load_conversation(contact)
    assert conv is not None and conv.state["fields"]["role"] == "probation"

    # 09:00 Bucharest (EET, UTC+2) on Monday: the reminder reaches the fake Bot API.
    sent_before = len(world.tg.sent)
    await world.tick(datetime(2027, 3, 1, 7, 0, tzinfo=UTC))
    reminders = [s for s in world.tg.sent[sent_before:] if "time for your check-in" in s["text"]]
    assert len(reminders) == 1
    await world.press("Start check-in")
    await world.press("Good")
    await world.press("Yes")
    await world.send_text("School was fine this week")
    await world.press("No, I'm fine")
    assert "Thanks for checking in" in " ".join(world.texts()[-3:])

    record = await read_record(world, enrolment_id)
    first = record["checkins"][0]
    assert (first["status"], first["mood"], first["attendance"], first["needs_talk"]) == (
        "checked_in", "4", "yes", "no")

    # The follow-up is skipped (checked in); the window closes as checked in; the next reminder goes out.
    sent_before = len(world.tg.sent)
    await world.tick(datetime(2027, 3, 2, 1, 0, tzinfo=UTC))
    assert world.tg.sent[sent_before:] == []
    await world.tick(datetime(2027, 3, 2, 7, 0, tzinfo=UTC))
    assert [s["text"] for s in world.tg.sent[sent_before:]] == [
        "Hi! It's time for your check-in. It only takes a minute."]
    assert await missed_cases(world) == []

    # Tuesday's window: a nudge at 75%, then closed unanswered: missed, one alert, a kind word.
    await world.tick(datetime(2027, 3, 3, 1, 0, tzinfo=UTC))
    assert "still open" in world.texts()[-1]
    await world.tick(datetime(2027, 3, 3, 7, 0, tzinfo=UTC))
    await world.tick(datetime(2027, 3, 3, 7, 0, tzinfo=UTC))  # running again changes nothing
    cases = await missed_cases(world)
    assert len(cases) == 1 and cases[0]["severity"] == "low"
    assert sum("We missed you" in t for t in world.texts()) == 1
    record = await read_record(world, enrolment_id)
    assert [c["status"] for c in record["checkins"]] == ["checked_in", "missed", "open"]
    assert record["attendance_rate"] == 0.5
