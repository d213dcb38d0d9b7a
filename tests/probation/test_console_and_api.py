"""The officer's side: console pages (no inline script or style), permissions, pause/change/end."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from casework.probation.planner import REMINDER
from tests.casework.harness import PASSWORD, add_user, token
from tests.probation.conftest import World
from tests.probation.test_cycle import enrol, link_and_onboard

INLINE = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", re.IGNORECASE)


async def test_console_record_page_has_calendar_mood_chart_and_export(world: World) -> None:
    data = await enrol(world)
    eid = data["enrolment"]["id"]
    await link_and_onboard(world, data["link"]["code"])
    await world.tick(datetime(2027, 3, 1, 7, 0, tzinfo=UTC))
    await world.press("Start check-in")
    await world.press("Great")
    login = await world.client.post("/console/login", data={"username": "olga", "password": PASSWORD},
                                    allow_redirects=False)
    assert login.status == 303
    listing = await world.client.get("/console/probation")
    assert listing.status == 200 and "R." in await listing.text()
    page = await world.client.get(f"/console/probation/{eid}")
    html = await page.text()
    assert page.status == 200
    assert "Check-in calendar" in html and "Mood trend" in html and "mood 5" in html
    assert f"/console/probation/{eid}/export.csv" in html and 'href="/console/probation"' in html
    assert not INLINE.search(html)
    csv = await world.client.get(f"/console/probation/{eid}/export.csv")
    assert csv.status == 200 and "checked-in" in await csv.text()


async def test_other_officers_cannot_see_and_case_workers_cannot_enrol(world: World) -> None:
    data = await enrol(world)
    eid = data["enrolment"]["id"]
    await add_user(world.services, "ivan", "probation_officer", ["default"])
    await add_user(world.services, "cw", "case_worker", ["default"])
    ivan, cw = await token(world.client, "ivan"), await token(world.client, "cw")
    for path in (f"/api/v1/probation/enrolments/{eid}", f"/api/v1/probation/enrolments/{eid}/export.csv"):
        assert (await world.client.get(path, headers=ivan)).status == 404
        assert (await world.client.get(path, headers=cw)).status == 403
    resp = await world.client.post("/api/v1/probation/enrolments", headers=cw,
                                   json={"alias": "x", "schedule": {"kind": "daily", "at": "09:00", "zone": "UTC"}})
    assert resp.status == 403
    bad = await world.api("POST", "/probation/enrolments", json={"alias": "x", "schedule": {"kind": "hourly"}})
    assert bad.status == 400


async def test_pause_resume_change_and_end_replan_the_jobs(world: World) -> None:
    data = await enrol(world)
    eid = data["enrolment"]["id"]
    await link_and_onboard(world, data["link"]["code"])
    jobs = world.runtime.extension.planner.jobs
    assert [j.key for j in await jobs.list_jobs(status="pending", kind=REMINDER)] == [
        f"reminder:{eid}:2027-03-01T09:00"]
    assert (await world.api("POST", f"/probation/enrolments/{eid}/pause")).status == 200
    assert await jobs.list_jobs(status="pending") == []
    await world.tick(datetime(2027, 3, 2, 8, 0, tzinfo=UTC))
    assert not any("time for your check-in" in t for t in world.texts())
    assert (await world.api("POST", f"/probation/enrolments/{eid}/resume")).status == 200
    assert [j.key for j in await jobs.list_jobs(status="pending", kind=REMINDER)] == [
        f"reminder:{eid}:2027-03-03T09:00#r2"]
    changed = await world.api("POST", f"/probation/enrolments/{eid}", json={
        "schedule": {"kind": "weekly", "weekdays": [4], "at": "17:30", "zone": "Europe/Bucharest"}})
    assert changed.status == 200
    assert [j.key for j in await jobs.list_jobs(status="pending", kind=REMINDER)] == [
        f"reminder:{eid}:2027-03-05T17:30#r3"]
    await world.send_text("when is my next check-in")
    assert world.texts()[-1] == "Your next check-in is 2027-03-05 17:30."
    await world.send_text("reschedule")  # "I can't make it" alone reads as distress to the screen: it escalates
    assert "can't make the check-in on 2027-03-05 17:30" in world.texts()[-1]
    await world.send_text("message my officer")
    await world.send_text("I start a new job on Monday")
    assert "passed your message on" in world.texts()[-1]
    record = await (await world.api("GET", f"/probation/enrolments/{eid}")).json()
    assert {(m["kind"], m["text"]) for m in record["messages"]} == {
        ("note", "I start a new job on Monday"), ("reschedule", "reschedule")}
    assert (await world.api("POST", f"/probation/enrolments/{eid}/end")).status == 200
    assert await jobs.list_jobs(status="pending") == []
