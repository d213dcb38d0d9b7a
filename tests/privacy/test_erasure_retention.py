"""Erasure (with and without an open case) and retention sweeps, on both adapters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from caseline.crypto import FieldCipher
from caseline.erasure import erase_contact
from caseline.keyring import Keyring
from caseline.retention import RetentionPolicy, sweep
from caseline.store.factory import Backend
from tests.privacy.conftest import leaks, open_store, raw_strings
from tests.privacy.test_encryption import PLATFORM_ID, REPLY, SECRET, process


async def test_erasure_removes_everything_and_the_data_key(backend: Backend, tmp_path: Path, keyring: Keyring) -> None:
    store = await open_store(backend, FieldCipher(keyring))
    await process(store, "c_a")
    await process(store, "c_b", user="other-9", text="other child")
    report = await erase_contact(store, "c_a", lambda _cid: False)
    assert (report.conversation, report.transcript, report.data_key, report.kept_transcript) == (1, 2, 1, 0)
    assert report.inbound == 1 and report.outbox == 1
    assert await store.load_conversation("c_a") is None
    assert await store.transcript("c_a") == [] and await store.outbox_since("c_a") == []
    assert await store.key_counts() == {"k1": 1}
    assert not [s for s in raw_strings(backend, tmp_path) if "c_a" in s]
    assert leaks(backend, tmp_path, "zebra", PLATFORM_ID) == []
    assert [e.text for e in await store.transcript("c_b")] == ["other child", REPLY]


async def test_erasure_with_an_open_case_keeps_only_the_case_part(
    backend: Backend, tmp_path: Path, keyring: Keyring
) -> None:
    store = await open_store(backend, FieldCipher(keyring))
    await process(store, "c_a")
    await store.update_state("c_a", {"case_id": "case-1", "safety_mode": 2})

    async def open_case(contact_id: str) -> bool:
        return contact_id == "c_a"

    report = await erase_contact(store, "c_a", open_case)
    assert report.kept_transcript == 2 and report.kept_data_key and report.transcript == 0
    assert [e.text for e in await store.transcript("c_a")] == [SECRET, REPLY]
    assert await store.outbox_since("c_a") == [] and await store.next_pending("c_a") is None
    conv = await store.load_conversation("c_a")
    assert conv is not None and conv.platform_user_id == PLATFORM_ID  # a worker can still answer
    assert conv.state == {"case_id": "case-1", "safety_mode": 2, "erased": True}
    assert leaks(backend, tmp_path, "zebra", PLATFORM_ID) == []
    # When the case closes, erasing again removes the rest.
    final = await erase_contact(store, "c_a", None)
    assert final.transcript == 2 and final.data_key == 1
    assert await store.key_counts() == {}


async def test_erasure_dry_run_changes_nothing(backend: Backend, keyring: Keyring) -> None:
    store = await open_store(backend, FieldCipher(keyring))
    await process(store, "c_a")
    report = await erase_contact(store, "c_a", None, dry_run=True)
    assert report.dry_run and report.transcript == 2 and report.data_key == 1
    assert len(await store.transcript("c_a")) == 2


async def test_retention_dry_run_counts_then_sweep_deletes(backend: Backend, keyring: Keyring) -> None:
    store = await open_store(backend, FieldCipher(keyring))
    await process(store, "c_idle")
    await process(store, "c_case", user="u-case", text="case child")
    later = datetime.now(UTC) + timedelta(days=31)
    policy = RetentionPolicy(extra={"resolved_cases": lambda now, dry: _zero()})

    def open_case(contact_id: str) -> bool:
        return contact_id == "c_case"

    soon = await sweep(store, policy, datetime.now(UTC) + timedelta(days=1), dry_run=True, has_open_case=open_case)
    assert (soon.inbound, soon.outbox, soon.conversations, soon.kept_open_case) == (0, 0, 0, 0)
    dry = await sweep(store, policy, later, dry_run=True, has_open_case=open_case)
    assert (dry.inbound, dry.outbox, dry.conversations, dry.kept_open_case) == (2, 2, 1, 1)
    assert dry.extra == {"resolved_cases": 0} and any("would delete" in line for line in dry.lines())
    assert len(await store.transcript("c_idle")) == 2  # nothing deleted by a dry run
    real = await sweep(store, policy, later, has_open_case=open_case)
    assert (real.inbound, real.outbox, real.conversations, real.kept_open_case) == (2, 2, 1, 1)
    assert real.conversation_rows == 2  # c_idle's transcript (its inbound/outbox went by age)
    assert await store.load_conversation("c_idle") is None and await store.transcript("c_idle") == []
    assert len(await store.transcript("c_case")) == 2
    assert await store.key_counts() == {"k1": 1}
    again = await sweep(store, policy, later, dry_run=True, has_open_case=open_case)
    assert (again.inbound, again.outbox, again.conversations) == (0, 0, 0)


async def test_a_contact_with_a_pending_message_is_not_swept(backend: Backend, keyring: Keyring) -> None:
    from tests.privacy.test_encryption import inbound

    store = await open_store(backend, FieldCipher(keyring))
    await store.accept_inbound(inbound("c_wait"))
    report = await sweep(store, RetentionPolicy(), datetime.now(UTC) + timedelta(days=60))
    assert report.conversations == 0 and await store.next_pending("c_wait") is not None


async def _zero() -> int:
    return 0
