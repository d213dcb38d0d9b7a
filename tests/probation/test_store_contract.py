"""One contract for the probation store, on SQLite and on MongoDB (fake, or real with CASELINE_TEST_MONGODB_URI)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from caseline.store.factory import Backend
from casework.probation.model import CheckinWindow, Enrolment, EnrolmentCode, OfficerMessage, ScheduleSpec
from casework.probation.ports import ProbationStore
from casework.probation.wiring import probation_store

NOW = datetime(2027, 3, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
async def store(backend: Backend) -> ProbationStore:
    found = probation_store(backend)
    await found.open()
    await found.open()
    return found


def _enrolment(eid: str = "enr_1", officer: str = "olga", created: datetime = NOW) -> Enrolment:
    return Enrolment(eid, "R.", officer, "default", ScheduleSpec("weekly", "Europe/Bucharest", "09:00", (0, 3)),
                     1440, "checkin", "pending", created)


async def test_enrolments_round_trip_link_and_list(store: ProbationStore) -> None:
    await store.add_enrolment(_enrolment())
    await store.add_enrolment(_enrolment("enr_2", "ivan", NOW + timedelta(minutes=1)))
    assert await store.get_enrolment("enr_1") == _enrolment()
    assert [e.id for e in await store.list_enrolments()] == ["enr_2", "enr_1"]
    assert [e.id for e in await store.list_enrolments(officer="olga")] == ["enr_1"]
    assert await store.list_enrolments(statuses=["active"]) == []
    assert await store.enrolment_for_contact("c1") is None
    assert await store.link("enr_1", "c1", "telegram", "ro", NOW)
    assert await store.link("enr_1", "c1", "telegram", "ro", NOW + timedelta(hours=1))  # the same contact again
    assert not await store.link("enr_1", "c2", "viber", "en", NOW)  # never another contact
    linked = await store.enrolment_for_contact("c1")
    assert linked is not None and (linked.status, linked.channel, linked.lang, linked.linked_at) == (
        "active", "telegram", "ro", NOW)
    await store.save_enrolment(linked.with_changes(status="paused", alias="R.B.", revision=2))
    again = await store.get_enrolment("enr_1")
    assert again is not None and (again.status, again.alias, again.revision, again.contact_id) == (
        "paused", "R.B.", 2, "c1")
    await store.save_enrolment(again.with_changes(status="ended"))
    assert await store.enrolment_for_contact("c1") is None
    assert not await store.link("enr_1", "c1", "telegram", "ro", NOW)


async def test_a_code_is_redeemed_once_by_one_contact_before_it_expires(store: ProbationStore) -> None:
    await store.add_code(EnrolmentCode("ABCD2345", "enr_1", NOW + timedelta(days=7)))
    await store.add_code(EnrolmentCode("OLD23456", "enr_1", NOW - timedelta(seconds=1)))
    assert await store.redeem_code("NOPE2345", "c1", NOW) is None
    assert await store.redeem_code("OLD23456", "c1", NOW) is None
    assert await store.redeem_code("ABCD2345", "c1", NOW) == "enr_1"
    assert await store.redeem_code("ABCD2345", "c1", NOW) == "enr_1"  # a replayed turn
    assert await store.redeem_code("ABCD2345", "c2", NOW) is None
    codes = await store.codes_for("enr_1")
    assert [(c.code, c.used_by) for c in codes] == [("OLD23456", None), ("ABCD2345", "c1")]


async def test_windows_answers_and_once_only_transitions(store: ProbationStore) -> None:
    w = CheckinWindow("enr_1", "2027-03-01T09:00", NOW + timedelta(hours=1), NOW + timedelta(hours=25))
    assert await store.open_window(w) == w
    assert await store.open_window(w) == w
    w2 = CheckinWindow("enr_1", "2027-03-02T09:00", NOW + timedelta(hours=25), NOW + timedelta(hours=49))
    await store.open_window(w2)
    assert await store.window_at("enr_1", NOW) is None
    assert (await store.window_at("enr_1", NOW + timedelta(hours=2))) == w
    assert (await store.window_at("enr_1", NOW + timedelta(hours=25))) == w2
    later = NOW + timedelta(hours=3)
    assert await store.record_answer("enr_1", w.occ_key, "mood", "4", later)
    assert await store.record_answer("enr_1", w.occ_key, "need_talk", "no", later + timedelta(minutes=1))
    assert not await store.record_answer("enr_1", "nope", "mood", "4", later)
    with pytest.raises(ValueError):
        await store.record_answer("enr_1", w.occ_key, "status", "missed", later)
    got = await store.get_window("enr_1", w.occ_key)
    assert got is not None and (got.status, got.mood, got.needs_talk, got.checked_in_at) == (
        "checked_in", "4", "no", later)
    assert not await store.mark_missed("enr_1", w.occ_key)
    assert await store.mark_missed("enr_1", w2.occ_key)
    assert not await store.mark_missed("enr_1", w2.occ_key)
    assert await store.mark_alerted("enr_1", w2.occ_key)
    assert not await store.mark_alerted("enr_1", w2.occ_key)
    assert [(x.occ_key, x.status, x.alerted) for x in await store.windows("enr_1")] == [
        (w.occ_key, "checked_in", False), (w2.occ_key, "missed", True)]
    assert [x.occ_key for x in await store.windows("enr_1", limit=1)] == [w2.occ_key]


async def test_officer_messages_are_kept_once(store: ProbationStore) -> None:
    first = OfficerMessage("c1:5", "enr_1", "note", "see you Friday", NOW)
    assert await store.add_message(first)
    assert not await store.add_message(first)
    second = OfficerMessage("c1:6", "enr_1", "reschedule", "I can't make it", NOW + timedelta(minutes=1),
                            "2027-03-02T09:00")
    assert await store.add_message(second)
    assert await store.messages("enr_1") == [second, first]
