"""The conversation store contract, run against every adapter (see the report header)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from caseline.messages import Inbound, Reply
from caseline.store.base import OutboxDraft, TranscriptDraft, TurnCommit, VersionConflict
from caseline.store.factory import Backend, conversation_store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def inbound(n: int, contact: str = "c1", text: str = "hello") -> Inbound:
    return Inbound("webchat", "u1", contact, f"m{n}", NOW + timedelta(seconds=n), text=text)


@pytest.fixture(params=["plain", "encrypted"])
async def store(backend: Backend, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    if request.param == "plain":
        s = conversation_store(backend)
    else:  # the same contract with encryption at rest on
        import os

        from caseline.crypto import FieldCipher
        from caseline.keyring import Keyring

        s = conversation_store(backend, FieldCipher(Keyring(active="k1", keys={"k1": os.urandom(32)})))
    await s.open()
    await s.open()  # idempotent
    return s


async def test_accept_is_deduplicated_by_platform_message_id(store) -> None:  # type: ignore[no-untyped-def]
    first = await store.accept_inbound(inbound(1))
    again = await store.accept_inbound(inbound(1))
    assert first is not None and again is None
    pending = await store.next_pending("c1")
    assert pending is not None and pending.seq == first and pending.message.text == "hello"


async def test_pending_in_arrival_order_and_listed_for_recovery(store) -> None:  # type: ignore[no-untyped-def]
    seqs = [await store.accept_inbound(inbound(i)) for i in range(3)]
    await store.accept_inbound(inbound(9, contact="c2"))
    assert seqs == sorted(seqs)
    rec = await store.next_pending("c1")
    assert rec is not None and rec.seq == seqs[0]
    assert set(await store.pending_contacts()) == {"c1", "c2"}


async def test_lease_is_exclusive_until_released_or_expired(store) -> None:  # type: ignore[no-untyped-def]
    await store.ensure_conversation("c1", "webchat", "u1")
    until = NOW + timedelta(seconds=30)
    assert await store.acquire_lease("c1", "a", NOW, until)
    assert await store.acquire_lease("c1", "a", NOW, until)  # renewal
    assert not await store.acquire_lease("c1", "b", NOW, until)
    assert await store.acquire_lease("c1", "b", until + timedelta(seconds=1), until + timedelta(seconds=60))
    await store.release_lease("c1", "a")  # not the owner any more: no effect
    assert not await store.acquire_lease("c1", "a", until, until + timedelta(seconds=5))
    await store.release_lease("c1", "b")
    assert await store.acquire_lease("c1", "a", until, until + timedelta(seconds=5))


async def test_concurrent_lease_attempts_have_one_winner(store) -> None:  # type: ignore[no-untyped-def]
    await store.ensure_conversation("c1", "webchat", "u1")
    until = NOW + timedelta(seconds=30)
    results = await asyncio.gather(*(store.acquire_lease("c1", f"o{i}", NOW, until) for i in range(20)))
    assert sum(results) == 1


async def test_lease_turn_takes_the_lease_only_with_work_and_no_other_holder(store) -> None:  # type: ignore[no-untyped-def]
    until = NOW + timedelta(seconds=30)
    await store.ensure_conversation("c1", "webchat", "u1")
    assert await store.lease_turn("c1", "a", NOW, until) is None  # nothing pending
    assert await store.acquire_lease("c1", "b", NOW, until)  # so the lease was left free
    await store.release_lease("c1", "b")
    seq = await store.accept_inbound(inbound(1))
    turn = await store.lease_turn("c1", "a", NOW, until)
    assert turn is not None and turn[0].seq == seq and turn[1].contact_id == "c1" and turn[1].version == 0
    assert turn[0].message.text == "hello"
    assert await store.lease_turn("c1", "b", NOW, until) is None  # a holds it
    assert not await store.acquire_lease("c1", "b", NOW, until)
    again = await store.lease_turn("c1", "a", NOW, until)  # the holder may load again
    assert again is not None and again[0].seq == seq
    late = until + timedelta(seconds=1)
    stolen = await store.lease_turn("c1", "b", late, late + timedelta(seconds=30))  # a's lease lapsed
    assert stolen is not None and stolen[0].seq == seq
    assert not await store.acquire_lease("c1", "a", late, late + timedelta(seconds=30))


async def test_commit_and_release_releases_only_when_nothing_is_pending(store) -> None:  # type: ignore[no-untyped-def]
    until = NOW + timedelta(seconds=30)
    first = await store.accept_inbound(inbound(1))
    second = await store.accept_inbound(inbound(2))
    turn = await store.lease_turn("c1", "a", NOW, until)
    assert turn is not None and turn[0].seq == first
    draft = OutboxDraft(f"in:{first}:0", "c1", "webchat", "u1", Reply("one"), first)
    assert not await store.commit_and_release(TurnCommit("c1", 0, {"turns": 1}, first, [draft], []), "a")
    assert not await store.acquire_lease("c1", "b", NOW, until)  # still a's: the second is pending
    assert await store.inbound_status(first) == "done"
    [item] = await store.outbox_for_inbound(first)
    assert item.reply.text == "one"
    turn = await store.lease_turn("c1", "a", NOW, until)
    assert turn is not None and turn[0].seq == second and turn[1].version == 1
    assert await store.commit_and_release(TurnCommit("c1", 1, {"turns": 2}, second, [], []), "a")
    assert await store.acquire_lease("c1", "b", NOW, until)  # released
    await store.release_lease("c1", "b")
    conv = await store.load_conversation("c1")
    assert conv is not None and conv.state == {"turns": 2} and conv.version == 2
    with pytest.raises(VersionConflict):  # version-checked like commit_turn, and nothing written
        third = await store.accept_inbound(inbound(3))
        await store.commit_and_release(TurnCommit("c1", 1, {"turns": 3}, third, [], []), "a")
    assert await store.inbound_status(third) == "pending"


async def test_commit_turn_applies_everything_and_checks_version(store) -> None:  # type: ignore[no-untyped-def]
    seq = await store.accept_inbound(inbound(1))
    conv = await store.load_conversation("c1")
    assert conv is not None and conv.version == 0 and conv.state == {}
    draft = OutboxDraft(f"in:{seq}:0", "c1", "webchat", "u1", Reply("hi there"), seq)
    note = TranscriptDraft("c1", "in", "contact", "hello", NOW, seq)
    await store.commit_turn(TurnCommit("c1", 0, {"turns": 1}, seq, [draft], [note]))
    conv = await store.load_conversation("c1")
    assert conv is not None and conv.version == 1 and conv.state == {"turns": 1} and conv.last_seq == seq
    assert await store.inbound_status(seq) == "done"
    assert await store.next_pending("c1") is None
    [item] = await store.outbox_for_inbound(seq)
    assert item.reply.text == "hi there" and item.status == "pending"
    [entry] = await store.transcript("c1")
    assert entry.text == "hello" and entry.direction == "in"
    # A second commit of the same inbound is a no-op, even with a stale version.
    await store.commit_turn(TurnCommit("c1", 0, {"turns": 99}, seq, [draft], [note]))
    conv = await store.load_conversation("c1")
    assert conv is not None and conv.state == {"turns": 1}
    assert len(await store.transcript("c1")) == 1


async def test_stale_version_is_refused_and_writes_nothing(store) -> None:  # type: ignore[no-untyped-def]
    seq = await store.accept_inbound(inbound(1))
    await store.update_state("c1", {"x": 1})
    draft = OutboxDraft(f"in:{seq}:0", "c1", "webchat", "u1", Reply("stale"), seq)
    with pytest.raises(VersionConflict):
        await store.commit_turn(TurnCommit("c1", 0, {"turns": 1}, seq, [draft], []))
    assert await store.outbox_for_inbound(seq) == []
    conv = await store.load_conversation("c1")
    assert conv is not None and conv.state == {"x": 1}
    assert await store.inbound_status(seq) == "pending"


async def test_outbox_claims_head_per_contact_in_order(store) -> None:  # type: ignore[no-untyped-def]
    drafts = [OutboxDraft(f"k{i}", "c1", "webchat", "u1", Reply(f"r{i}")) for i in range(3)]
    drafts.append(OutboxDraft("other", "c2", "webchat", "u2", Reply("x")))
    await store.enqueue(drafts, [])
    await store.enqueue(drafts[:1], [])  # idempotent by key
    now = datetime.now(UTC)
    claimed = await store.claim_outbox("w1", now, now + timedelta(seconds=30))
    assert sorted(i.reply.text for i in claimed) == ["r0", "x"]
    assert await store.claim_outbox("w2", now, now + timedelta(seconds=30)) == []
    first = next(i for i in claimed if i.contact_id == "c1")
    await store.complete_outbox(first.id, "sent")
    [nxt] = [i for i in await store.claim_outbox("w2", now, now + timedelta(seconds=30)) if i.contact_id == "c1"]
    assert nxt.reply.text == "r1" and nxt.attempts == 1
    await store.retry_outbox(nxt.id, now + timedelta(seconds=60), "429")
    assert [i for i in await store.claim_outbox("w3", now, now + timedelta(seconds=30)) if i.contact_id == "c1"] == []
    later = now + timedelta(seconds=61)
    [again] = [i for i in await store.claim_outbox("w3", later, later + timedelta(seconds=30)) if i.contact_id == "c1"]
    assert again.id == nxt.id and again.attempts == 2
    assert await store.outbox_backlog() == 3
    assert [i.reply.text for i in await store.outbox_since("c1", first.id)] == ["r1", "r2"]


async def test_expired_outbox_lease_is_reclaimed(store) -> None:  # type: ignore[no-untyped-def]
    await store.enqueue([OutboxDraft("k", "c1", "webchat", "u1", Reply("r"))], [])
    now = datetime.now(UTC)
    [item] = await store.claim_outbox("dead", now, now + timedelta(seconds=5))
    assert await store.claim_outbox("w", now, now + timedelta(seconds=5)) == []
    later = now + timedelta(seconds=6)
    [again] = await store.claim_outbox("w", later, later + timedelta(seconds=5))
    assert again.id == item.id


async def test_update_state_merges_and_bumps_version(store) -> None:  # type: ignore[no-untyped-def]
    await store.ensure_conversation("c1", "webchat", "u1")
    await store.update_state("c1", {"a": 1})
    await store.update_state("c1", {"b": 2})
    conv = await store.load_conversation("c1")
    assert conv is not None and conv.state == {"a": 1, "b": 2} and conv.version == 2
    assert await store.ping()


async def test_delivery_receipts_only_move_forward(store) -> None:  # type: ignore[no-untyped-def]
    await store.enqueue([OutboxDraft("k", "c1", "whatsapp", "u1", Reply("r"))], [])
    now = datetime.now(UTC)
    [item] = await store.claim_outbox("w", now, now + timedelta(seconds=5))
    await store.complete_outbox(item.id, "sent", platform_message_id="wamid.1")
    assert await store.update_delivery("whatsapp", "wamid.1", "read")
    assert await store.update_delivery("whatsapp", "wamid.1", "delivered")  # late, ignored
    assert not await store.update_delivery("whatsapp", "wamid.unknown", "read")
    [got] = await store.outbox_since("c1")
    assert got.platform_message_id == "wamid.1" and got.delivery == "read" and got.status == "sent"
    assert await store.update_delivery("whatsapp", "wamid.1", "failed")
    [got] = await store.outbox_since("c1")
    assert got.delivery == "failed"


async def test_accept_and_lease_leases_an_idle_contacts_message(store) -> None:  # type: ignore[no-untyped-def]
    until = NOW + timedelta(seconds=30)
    first, turn = await store.accept_and_lease(inbound(1), "a", NOW, until)
    assert first is not None and turn is not None
    assert turn[0].seq == first and turn[0].message.text == "hello" and turn[0].status == "pending"
    assert (turn[1].contact_id, turn[1].platform_user_id, turn[1].state, turn[1].version) == ("c1", "u1", {}, 0)
    assert not await store.acquire_lease("c1", "b", NOW, until)  # a holds it
    assert await store.accept_and_lease(inbound(1), "b", NOW, until) == (None, None)  # a duplicate
    second, none = await store.accept_and_lease(inbound(2), "b", NOW, until)
    assert second is not None and second > first and none is None  # a holds the lease
    assert not await store.commit_and_release(TurnCommit("c1", 0, {"turns": 1}, first, [], []), "a")
    turn = await store.lease_turn("c1", "a", NOW, until)
    assert turn is not None and turn[0].seq == second
    assert await store.commit_and_release(TurnCommit("c1", 1, {"turns": 2}, second, [], []), "a")
    third, turn = await store.accept_and_lease(inbound(3, text="again"), "b", NOW, until)
    assert turn is not None and turn[0].seq == third and turn[0].message.text == "again"
    assert turn[1].version == 2 and turn[1].state == {"turns": 2}  # the committed state, read with it
    assert not await store.acquire_lease("c1", "a", NOW, until)


async def test_commit_and_claim_claims_only_the_head_of_the_contacts_queue(store) -> None:  # type: ignore[no-untyped-def]
    until = NOW + timedelta(seconds=30)
    lease = datetime.now(UTC) + timedelta(seconds=30)  # replies are due from when they are queued
    seq, _turn = await store.accept_and_lease(inbound(1), "a", NOW, until)
    drafts = [OutboxDraft(f"in:{seq}:{i}", "c1", "webchat", "u1", Reply(text), seq)
              for i, text in enumerate(("one", "two"))]
    released, claimed = await store.commit_and_claim(TurnCommit("c1", 0, {}, seq, drafts, []), "a", lease)
    assert released and await store.inbound_status(seq) == "done"
    queued = await store.outbox_for_inbound(seq)
    assert [i.key for i in queued] == [d.key for d in drafts]
    if claimed:  # a store may leave it to claim_outbox; if it claims, exactly as claim_outbox would
        [item] = claimed
        assert (item.id, item.key, item.reply.text, item.platform_user_id, item.attempts) == (
            queued[0].id, drafts[0].key, "one", "u1", 1)
        assert await store.claim_outbox("b", datetime.now(UTC), lease) == []  # leased to a; "two" waits behind it
    else:
        [item] = await store.claim_outbox("a", datetime.now(UTC), lease)
        assert item.key == drafts[0].key
    await store.complete_outbox(item.id, "sent")
    # The next turn's reply queues behind "two", which is still pending: nothing to claim.
    seq2, turn = await store.accept_and_lease(inbound(2), "a", NOW, until)
    assert turn is not None
    later = OutboxDraft(f"in:{seq2}:0", "c1", "webchat", "u1", Reply("three"), seq2)
    released, claimed = await store.commit_and_claim(TurnCommit("c1", 1, {}, seq2, [later], []), "a", lease)
    assert released and claimed == []
    assert [i.reply.text for i in await store.claim_outbox("b", datetime.now(UTC), lease)] == ["two"]
