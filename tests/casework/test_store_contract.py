"""The casework store contract, held against every adapter (sqlite, mongo-fake, mongo-real)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from casework.model import AuditEntry, AuditQuery, NewCase, Note, Session, Trigger, User
from casework.ports import CaseStore, UserExists

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def new_case(
    contact: str = "c_1",
    severity: str = "high",
    at: datetime = T0,
    team: str = "default",
    case_id: str | None = None,
) -> NewCase:
    return NewCase(
        case_id or f"case_{contact}_{at.timestamp():.0f}",
        contact,
        "webchat",
        team,
        severity,
        ("abuse",),
        "screen",
        "en",
        None,
        at,
        at + timedelta(minutes=30),
    )


def trigger(seq: int | None, severity: str = "high", at: datetime = T0) -> Trigger:
    return Trigger(seq, ("rule.x",), "screen", severity, at)


async def test_escalate_opens_one_case_and_adds_triggers(store: CaseStore) -> None:
    case, created = await store.escalate(new_case(), trigger(1))
    assert created and case.status == "waiting" and case.severity == "high"
    again, created = await store.escalate(
        new_case(severity="critical", case_id="other"), trigger(2, "critical")
    )
    assert not created and again.id == case.id and again.severity == "critical"
    lower, _ = await store.escalate(new_case(severity="low", case_id="x"), trigger(3, "low"))
    assert lower.severity == "critical", "severity never goes down"
    replay, _ = await store.escalate(new_case(severity="low", case_id="y"), trigger(3, "low"))
    assert [t.inbound_seq for t in replay.triggers] == [1, 2, 3], "a replayed inbound_seq adds nothing"


async def test_concurrent_escalations_open_one_case(store: CaseStore) -> None:
    results = await asyncio.gather(
        *(store.escalate(new_case(case_id=f"case_{i}"), trigger(i)) for i in range(10))
    )
    assert len({case.id for case, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    final = await store.get(results[0][0].id)
    assert final is not None and len(final.triggers) == 10


async def test_resolved_case_lets_a_new_one_open(store: CaseStore) -> None:
    case, _ = await store.escalate(new_case(), trigger(1))
    assert await store.resolve(case.id, "support_given", T0) is not None
    assert await store.resolve(case.id, "support_given", T0) is None
    fresh, created = await store.escalate(new_case(case_id="case_2"), trigger(2))
    assert created and fresh.id == "case_2"


async def test_queue_order_is_severity_then_waiting_time(store: CaseStore) -> None:
    await store.escalate(new_case("a", "medium", T0), trigger(1))
    await store.escalate(new_case("b", "critical", T0 + timedelta(minutes=2)), trigger(2))
    await store.escalate(new_case("c", "high", T0 + timedelta(minutes=1)), trigger(3))
    await store.escalate(new_case("d", "critical", T0 + timedelta(minutes=1)), trigger(4))
    await store.escalate(new_case("e", "high", T0, team="other"), trigger(5))
    queue = await store.list_cases(["default"], ["waiting"])
    assert [c.contact_id for c in queue] == ["d", "b", "c", "a"]
    head = await store.claim_next(["default"], "w1", T0, T0 + timedelta(minutes=10))
    assert head is not None and head.contact_id == "d" and head.assignee == "w1"


@pytest.mark.parametrize("claimants", [20])
async def test_twenty_concurrent_claims_exactly_one_wins(store: CaseStore, claimants: int) -> None:
    case, _ = await store.escalate(new_case(), trigger(1))
    until = T0 + timedelta(minutes=10)
    results = await asyncio.gather(*(store.claim(case.id, f"w{i}", T0, until) for i in range(claimants)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    stored = await store.get(case.id)
    assert stored is not None and stored.status == "claimed" and stored.assignee == winners[0].assignee


async def test_lease_lapses_back_to_the_queue_and_heartbeat_renews(store: CaseStore) -> None:
    case, _ = await store.escalate(new_case(), trigger(1))
    assert await store.claim(case.id, "w1", T0, T0 + timedelta(minutes=10))
    assert await store.handling_case("c_1") == case.id
    assert await store.renew_leases("w1", T0 + timedelta(minutes=20)) == 1
    assert await store.release_lapsed(T0 + timedelta(minutes=15)) == []
    assert await store.release_lapsed(T0 + timedelta(minutes=21)) == [case.id]
    back = await store.get(case.id)
    assert back is not None and back.status == "waiting" and back.assignee is None
    assert await store.handling_case("c_1") is None


async def test_reply_transfer_notes_and_resolve(store: CaseStore) -> None:
    case, _ = await store.escalate(new_case(), trigger(1))
    await store.claim(case.id, "w1", T0, T0 + timedelta(minutes=10))
    assert not await store.record_reply(case.id, "w2", T0), "only the assignee's reply counts"
    assert await store.record_reply(case.id, "w1", T0 + timedelta(minutes=1))
    assert await store.record_reply(case.id, "w1", T0 + timedelta(minutes=2))
    await store.add_note(case.id, Note("w1", "called school", T0))
    await store.add_note(case.id, Note("w1", "Helpline", T0, "referral"))
    moved = await store.transfer(
        case.id, to_user="w2", to_team=None, now=T0, lease_until=T0 + timedelta(hours=1)
    )
    assert moved is not None and moved.assignee == "w2" and moved.status == "claimed"
    moved = await store.transfer(case.id, to_user=None, to_team="t2", now=T0, lease_until=T0)
    assert moved is not None and moved.team == "t2" and moved.status == "waiting" and moved.assignee is None
    done = await store.resolve(case.id, "referred", T0 + timedelta(hours=1))
    assert done is not None
    assert done.first_response_at == T0 + timedelta(minutes=1)
    assert [n.text for n in done.notes] == ["called school"] and done.referrals[0].text == "Helpline"
    assert done.outcome == "referred" and done.status == "resolved"


async def test_each_alert_is_claimed_once(store: CaseStore) -> None:
    results = await asyncio.gather(*(store.claim_alert("k1", "sla_breach", "webhook", T0) for _ in range(5)))
    assert sum(results) == 1
    await store.release_alert("k1", "sla_breach", "webhook")
    assert await store.claim_alert("k1", "sla_breach", "webhook", T0)
    assert await store.alerts("k1") == [("sla_breach", "webhook")]


async def test_users_sessions_and_lockout(store: CaseStore) -> None:
    await store.add_user(User("ana", "case_worker", ("default",), "h", created_at=T0))
    with pytest.raises(UserExists):
        await store.add_user(User("ana", "admin", (), "h"))
    for _ in range(3):
        await store.failed_login("ana", T0, 3, T0 + timedelta(minutes=15))
    user = await store.get_user("ana")
    assert user is not None and user.locked_until == T0 + timedelta(minutes=15)
    assert await store.update_user("ana", last_seen_at=T0, disabled=False)
    assert await store.active_workers("default", T0 - timedelta(minutes=1)) == 1
    assert await store.active_workers("other", T0 - timedelta(minutes=1)) == 0
    now = datetime.now(UTC)  # a real MongoDB purges sessions by wall-clock TTL
    await store.add_session(Session("th", "ana", "csrf", "cookie", now, now + timedelta(hours=1)))
    session = await store.get_session("th")
    assert session is not None and session.username == "ana"
    await store.delete_sessions(username="ana")
    assert await store.get_session("th") is None


async def test_audit_is_append_only_and_filterable(store: CaseStore) -> None:
    await store.append_audit(AuditEntry(T0, "ana", "login"))
    await store.append_audit(AuditEntry(T0, "ana", "case.view", "case_1"))
    await store.append_audit(AuditEntry(T0, "bo", "case.claim", "case_1", "denied"))
    entries = await store.query_audit(AuditQuery(target="case_1"))
    assert [e.action for e in entries] == ["case.claim", "case.view"]
    assert [e.actor for e in await store.query_audit(AuditQuery(outcome="denied"))] == ["bo"]
    assert not any(hasattr(store, name) for name in ("update_audit", "delete_audit"))
