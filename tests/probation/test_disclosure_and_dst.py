"""A disclosure in a check-in answer goes to safeguarding, never into the compliance export;
and a daily schedule keeps its local time across the spring-forward change in Bucharest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from caseline.store.jobs_base import Job
from casework.model import AuditQuery
from casework.probation.planner import REMINDER
from tests.casework.harness import casework
from tests.probation.conftest import START, World
from tests.probation.test_cycle import enrol, link_and_onboard, read_record

DISCLOSURE = "my stepdad hits me every night"


async def test_a_disclosure_in_the_note_opens_a_case_and_stays_out_of_the_csv(world: World) -> None:
    data = await enrol(world)
    enrolment_id = data["enrolment"]["id"]
    await link_and_onboard(world, data["link"]["code"])
    await world.tick(datetime(2027, 3, 1, 7, 0, tzinfo=UTC))
    await world.press("Start check-in")
    await world.press("Not good")
    await world.press("No")
    await world.send_text(DISCLOSURE)

    cases = await casework(world.services).store.list_cases(None, ["waiting"])
    assert [c.reason for c in cases] == ["screen"]
    record = await read_record(world, enrolment_id)
    assert record["checkins"][0]["mood"] == "2" and record["checkins"][0]["note"] is None
    resp = await world.api("GET", f"/probation/enrolments/{enrolment_id}/export.csv")
    assert resp.status == 200 and resp.content_type == "text/csv"
    body = await resp.text()
    assert "stepdad" not in body and "hits" not in body
    assert body.splitlines()[1].split(",")[3:7] == ["checked-in", "2027-03-01T07:00:00+00:00", "2", "no"]
    audit = await casework(world.services).store.query_audit(AuditQuery(action="probation.export"))
    exports = [e for e in audit if e.target == enrolment_id]
    assert len(exports) == 1


async def test_daily_reminders_keep_local_time_across_spring_forward(world: World) -> None:
    """03:30 does not exist on 28 March 2027 in Bucharest: that day fires at 04:00 EEST, then 03:30 again."""
    data = await enrol(world, schedule={"kind": "daily", "at": "03:30", "zone": "Europe/Bucharest"})
    enrolment_id = data["enrolment"]["id"]
    ext = world.runtime.extension
    contact = "contact-dst"
    await world.services.store.ensure_conversation(contact, "telegram", "42")
    assert await ext.store.link(enrolment_id, contact, "telegram", "en", START)
    enrolment = await ext.store.get_enrolment(enrolment_id)
    assert enrolment is not None
    world.clock.set(datetime(2027, 3, 25, 12, 0, tzinfo=UTC))
    await ext.planner.plan(enrolment, world.clock())
    fired: list[Job] = []
    for _ in range(5):
        pending = await ext.planner.jobs.list_jobs(status="pending", kind=REMINDER, key_prefix="reminder:")
        job = pending[0]
        await world.tick(job.due_at)
        fired.append(job)
    assert [(j.key.split(":", 2)[2], j.due_at) for j in fired] == [
        ("2027-03-26T03:30", datetime(2027, 3, 26, 1, 30, tzinfo=UTC)),
        ("2027-03-27T03:30", datetime(2027, 3, 27, 1, 30, tzinfo=UTC)),
        ("2027-03-28T03:30", datetime(2027, 3, 28, 1, 0, tzinfo=UTC)),  # the gap: 04:00 EEST
        ("2027-03-29T03:30", datetime(2027, 3, 29, 0, 30, tzinfo=UTC)),
        ("2027-03-30T03:30", datetime(2027, 3, 30, 0, 30, tzinfo=UTC)),
    ]
    windows = await ext.store.windows(enrolment_id)
    assert all(w.closes_at - w.opens_at == timedelta(hours=24) for w in windows)
    assert len(await ext.planner.jobs.list_jobs(kind=REMINDER)) == 6  # five fired, the next one planned
