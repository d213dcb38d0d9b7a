"""Encryption at rest on both adapters: nothing sensitive in the raw store, everything reads back."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from caseline.crypto import UNREADABLE, FieldCipher
from caseline.keyring import Keyring
from caseline.messages import Inbound, Reply
from caseline.store.base import ConversationStore, OutboxDraft, TranscriptDraft, TurnCommit
from caseline.store.factory import Backend
from tests.privacy.conftest import leaks, open_store, ring

SECRET = "my uncle hurts me zebra-7731"
REPLY = "Thank you for telling me, quokka-5512"
WORKER = "A worker is here for you, narwhal-3390"
PLATFORM_ID = "tg-user-998877665544"


def inbound(contact: str, n: int = 1, text: str = SECRET, user: str = PLATFORM_ID) -> Inbound:
    return Inbound("telegram", user, contact, f"{contact}-m{n}", datetime.now(UTC), text=text)


async def process(store: ConversationStore, contact: str = "c_a", user: str = PLATFORM_ID, text: str = SECRET) -> int:
    """What the pipeline does for one message: accept, load, commit a reply, deliver it."""
    seq = await store.accept_inbound(inbound(contact, user=user, text=text))
    assert seq is not None
    loaded = await store.load_turn(contact)
    assert loaded is not None
    record, conv = loaded
    assert record.message.text == text and record.message.platform_user_id == user
    assert conv.platform_user_id == user
    draft = OutboxDraft(f"in:{seq}:0", contact, "telegram", conv.platform_user_id, Reply(REPLY), seq)
    notes = [TranscriptDraft(contact, "in", "contact", text, record.message.received_at, seq),
             TranscriptDraft(contact, "out", "bot", REPLY, datetime.now(UTC), seq)]
    state = {"recent": [text], "fields": {"name": "zebra"}, "turns": 1}
    await store.commit_turn(TurnCommit(contact, conv.version, state, seq, [draft], notes))
    now = datetime.now(UTC)
    [item] = await store.claim_outbox("w", now, now + timedelta(seconds=30))
    assert item.reply.text == REPLY and item.platform_user_id == user
    await store.complete_outbox(item.id, "sent", platform_message_id=f"{contact}-out")
    return seq


async def check_reads_back(store: ConversationStore, contact: str = "c_a", seq: int | None = None) -> None:
    conv = await store.load_conversation(contact)
    assert conv is not None and conv.platform_user_id == PLATFORM_ID
    assert conv.state["recent"] == [SECRET] and conv.state["fields"] == {"name": "zebra"}
    assert [e.text for e in await store.transcript(contact)] == [SECRET, REPLY]
    [item] = await store.outbox_since(contact)
    assert item.reply.text == REPLY and item.platform_user_id == PLATFORM_ID
    if seq is not None:
        assert [i.reply.text for i in await store.outbox_for_inbound(seq)] == [REPLY]


async def test_raw_store_holds_no_message_text_or_platform_id(
    backend: Backend, tmp_path: Path, keyring: Keyring
) -> None:
    store = await open_store(backend, FieldCipher(keyring))
    seq = await process(store)
    await store.update_state("c_a", {"note": "still here"})
    await store.enqueue([OutboxDraft("w:1", "c_a", "telegram", PLATFORM_ID, Reply(WORKER))],
                        [TranscriptDraft("c_a", "out", "worker", WORKER, datetime.now(UTC))])
    assert leaks(backend, tmp_path, "zebra", "quokka", "narwhal", PLATFORM_ID) == []
    conv = await store.load_conversation("c_a")
    assert conv is not None and conv.state["note"] == "still here" and conv.state["recent"] == [SECRET]
    assert [e.text for e in await store.transcript("c_a")] == [SECRET, REPLY, WORKER]
    assert [i.reply.text for i in await store.outbox_for_inbound(seq)] == [REPLY]
    # A fresh process (empty key cache) reads it too.
    again = await open_store(backend, FieldCipher(keyring))
    assert [e.text for e in await again.transcript("c_a")] == [SECRET, REPLY, WORKER]


async def test_rotation_rewraps_keys_and_everything_still_reads(backend: Backend, tmp_path: Path) -> None:
    old = ring("k1")
    store = await open_store(backend, FieldCipher(old))
    seq = await process(store)
    await process(store, "c_b", text="second child kiwi-4242")
    assert await store.key_counts() == {"k1": 2}
    rotated = ring("k2", "k1", keys=dict(old.keys))
    new_store = await open_store(backend, FieldCipher(rotated))
    assert await new_store.rewrap_keys(limit=1) == 1  # batches: interrupted after one...
    assert await new_store.key_counts() == {"k1": 1, "k2": 1}
    assert await new_store.rewrap_keys(limit=10) == 1  # ...and resumed: only the rest
    assert await new_store.rewrap_keys(limit=10) == 0
    assert await new_store.key_counts() == {"k2": 2}
    only_new = Keyring(active="k2", keys={"k2": rotated.keys["k2"]})  # k1 retired
    reader = await open_store(backend, FieldCipher(only_new))
    await check_reads_back(reader, "c_a", seq)
    assert leaks(backend, tmp_path, "zebra", "quokka", "kiwi", PLATFORM_ID) == []


async def _move_transcript_text(backend: Backend, tmp_path: Path, source: str, target: str) -> None:
    if backend.sqlite is not None:
        conn = sqlite3.connect(tmp_path / "contract.sqlite3")
        [text] = conn.execute("SELECT text FROM transcript WHERE contact_id = ? LIMIT 1", (source,)).fetchone()
        conn.execute("UPDATE transcript SET text = ? WHERE contact_id = ?", (text, target))
        conn.commit()
        conn.close()
        return
    doc = await backend.mongo.transcript.find_one({"contact_id": source})
    await backend.mongo.transcript.update_many({"contact_id": target}, {"$set": {"text": doc["text"]}})


async def test_ciphertext_moved_to_another_contact_is_unreadable_not_a_crash(
    backend: Backend, tmp_path: Path, keyring: Keyring, caplog: pytest.LogCaptureFixture
) -> None:
    store = await open_store(backend, FieldCipher(keyring))
    await process(store, "c_a")
    await process(store, "c_b", user="other-user-1", text="hello there")
    await _move_transcript_text(backend, tmp_path, "c_a", "c_b")
    with caplog.at_level(logging.WARNING, logger="caseline.crypto"):
        entries = await store.transcript("c_b")
    assert [e.text for e in entries] == [UNREADABLE, UNREADABLE]
    assert "unreadable field" in caplog.text and "zebra" not in caplog.text
    assert [e.text for e in await store.transcript("c_a")] == [SECRET, REPLY]


async def test_without_the_master_key_data_is_unreadable(backend: Backend, keyring: Keyring) -> None:
    store = await open_store(backend, FieldCipher(keyring))
    await process(store)
    stranger = await open_store(backend, FieldCipher(ring("k1")))  # same kid, other key bytes
    assert [e.text for e in await stranger.transcript("c_a")] == [UNREADABLE, UNREADABLE]
    conv = await stranger.load_conversation("c_a")
    assert conv is not None and conv.platform_user_id == UNREADABLE and conv.state == {}


async def test_plain_rows_from_before_encryption_still_read_and_new_ones_are_sealed(
    backend: Backend, tmp_path: Path, keyring: Keyring
) -> None:
    plain = await open_store(backend, None)
    seq = await process(plain)
    assert leaks(backend, tmp_path, "zebra")  # the demo data before the upgrade
    store = await open_store(backend, FieldCipher(keyring))
    await check_reads_back(store, "c_a", seq)
    await process(store, "c_new", text="new secret okapi-1212")
    assert leaks(backend, tmp_path, "okapi") == []
    assert [e.text for e in await store.transcript("c_new")][0] == "new secret okapi-1212"
