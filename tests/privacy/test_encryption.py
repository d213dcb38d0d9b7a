"""Encryption at rest on both adapters: nothing sensitive in the raw store, everything reads back.

Covers the conversation store and the stores beside it that hold what people wrote about
or for a contact: case notes, referrals and outcomes, probation check-in answers and the
young person's messages for their officer.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from caseline.crypto import UNREADABLE, FieldCipher
from caseline.keyring import Keyring
from caseline.messages import Inbound, Reply
from caseline.privacy_cli import rotate
from caseline.store.base import ConversationStore, OutboxDraft, TranscriptDraft, TurnCommit
from caseline.store.factory import Backend, conversation_store, with_cipher
from casework.core import case_store
from casework.model import NewCase, Note, Trigger
from casework.ports import CaseStore
from casework.probation.model import CheckinWindow, Enrolment, EnrolmentCode, OfficerMessage, ScheduleSpec
from casework.probation.ports import ProbationStore
from casework.probation.wiring import probation_store
from tests.privacy.conftest import leaks, open_store, raw_strings, ring

SECRET = "my uncle hurts me zebra-7731"
REPLY = "Thank you for telling me, quokka-5512"
WORKER = "A worker is here for you, narwhal-3390"
PLATFORM_ID = "tg-user-998877665544"
# What people write about or for a contact, one marker per sealed field.
NOTE = "internal note: dad drinks, ocelot-4471"
REFERRAL = "Youth counselling: tapir-8812"
OUTCOME = "placed with an aunt, dugong-2290"
CHECKIN_NOTE = "slept at a friend's again, pangolin-6630"
OFFICER_MESSAGE = "please tell my officer axolotl-1187"
CASEWORK_MARKERS = ("ocelot-4471", "tapir-8812", "dugong-2290", "pangolin-6630", "axolotl-1187")
T0 = datetime(2027, 3, 1, 6, 0, tzinfo=UTC)
OCC = "2027-03-01T09:00"


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


def case_of(contact: str) -> str:
    """Ids that do not spell the contact id, so a scan for it finds only what stores it."""
    return f"case_{contact.removeprefix('c_')}"


def enrolment_of(contact: str) -> str:
    return f"enr_{contact.removeprefix('c_')}"


async def open_casework(
    backend: Backend, cipher: FieldCipher | None
) -> tuple[ConversationStore, CaseStore, ProbationStore]:
    """The three stores as the app wires them: one backend, one cipher."""
    ciphered = with_cipher(backend, cipher)
    store, cases, probation = conversation_store(ciphered), case_store(ciphered), probation_store(ciphered)
    for opening in (store.open, cases.open, probation.open):
        await opening()
    return store, cases, probation


async def write_casework(
    cases: CaseStore, probation: ProbationStore, contact: str = "c_a", *, resolve: bool = True,
    note: str = NOTE, checkin_note: str = CHECKIN_NOTE,
) -> str:
    """A case with a note, a referral and (resolved) an outcome; a linked enrolment with a
    check-in and a message for the officer. Returns the case id."""
    new = NewCase(case_of(contact), contact, "telegram", "default", "high", ("abuse",), "screen", "en", None,
                  T0, None)
    case, _ = await cases.escalate(new, Trigger(1, ("rule.x",), "screen", "high", T0))
    assert await cases.add_note(case.id, Note("w1", note, T0))
    assert await cases.add_note(case.id, Note("w1", REFERRAL, T0, "referral"))
    if resolve:
        assert await cases.resolve(case.id, OUTCOME, T0 + timedelta(hours=1)) is not None
    eid, code = enrolment_of(contact), f"CODE{contact.removeprefix('c_').upper()}"
    await probation.add_enrolment(Enrolment(eid, "R.", "olga", "default", ScheduleSpec("daily", "Europe/Bucharest",
                                                                                   "09:00"), 1440, "checkin",
                                            "pending", T0))
    await probation.add_code(EnrolmentCode(code, eid, T0 + timedelta(days=7)))
    assert await probation.redeem_code(code, contact, T0) == eid
    assert await probation.link(eid, contact, "telegram", "en", T0)
    await probation.open_window(CheckinWindow(eid, OCC, T0, T0 + timedelta(days=1)))
    assert await probation.record_answer(eid, OCC, "mood", "2", T0 + timedelta(minutes=5))
    assert await probation.record_answer(eid, OCC, "note", checkin_note, T0 + timedelta(minutes=6))
    assert await probation.add_message(OfficerMessage(f"{contact}:9", eid, "note", OFFICER_MESSAGE, T0))
    return case.id


async def check_casework(
    cases: CaseStore, probation: ProbationStore, contact: str = "c_a", *, resolved: bool = True,
    note: str = NOTE, checkin_note: str = CHECKIN_NOTE,
) -> None:
    """Every read path gives back plain text."""
    case = await cases.get(case_of(contact))
    assert case is not None
    assert [n.text for n in case.notes] == [note] and [r.text for r in case.referrals] == [REFERRAL]
    assert case.outcome == (OUTCOME if resolved else None)
    [listed] = [c for c in await cases.list_cases(None) if c.id == case.id]
    assert listed.notes == case.notes and listed.outcome == case.outcome
    eid = enrolment_of(contact)
    window = await probation.get_window(eid, OCC)
    assert window is not None and (window.status, window.mood, window.note) == ("checked_in", "2", checkin_note)
    assert await probation.windows(eid) == [window]
    assert await probation.window_at(eid, T0 + timedelta(hours=1)) == window
    assert [m.text for m in await probation.messages(eid)] == [OFFICER_MESSAGE]


def raw_hits(backend: Backend, tmp_path: Path, *needles: str) -> list[str]:
    """Needles stored in clear: in the raw bytes of every SQLite file (database, WAL, key
    store), so a copied file or a backup is covered, or in any MongoDB document."""
    if backend.sqlite is None:
        return leaks(backend, tmp_path, *needles)
    files = sorted(p for p in tmp_path.iterdir() if ".sqlite3" in p.name)
    assert any(p.name.endswith(".sqlite3-wal") for p in files), "the WAL must be scanned too"
    return [f"{p.name}: {n}" for p in files for n in needles if n.encode() in p.read_bytes()]


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


async def test_raw_store_holds_no_case_or_probation_text(backend: Backend, tmp_path: Path, keyring: Keyring) -> None:
    store, cases, probation = await open_casework(backend, FieldCipher(keyring))
    await process(store)
    await write_casework(cases, probation)
    await write_casework(cases, probation, "c_open", resolve=False)
    assert raw_hits(backend, tmp_path, *CASEWORK_MARKERS, "zebra", "quokka", PLATFORM_ID) == []
    await check_casework(cases, probation)
    await check_casework(cases, probation, "c_open", resolved=False)
    assert await store.key_counts() == {"k1": 2}  # the conversation's key, and c_open's made by the case store
    # A fresh process (empty key cache) reads it too.
    _store, cases2, probation2 = await open_casework(backend, FieldCipher(keyring))
    await check_casework(cases2, probation2)


async def test_the_raw_scan_finds_case_and_probation_text_left_plain(backend: Backend, tmp_path: Path) -> None:
    """Without a cipher every marker is in the raw store: the scan above can fail."""
    _store, cases, probation = await open_casework(backend, None)
    await write_casework(cases, probation)
    for marker in CASEWORK_MARKERS:
        assert raw_hits(backend, tmp_path, marker), marker
    await check_casework(cases, probation)


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


async def test_key_rotation_keeps_case_and_probation_text_readable_and_seals_old_plain_text(
    backend: Backend, tmp_path: Path
) -> None:
    # Before encryption: two contacts' case and probation text in plain.
    _plain, cases, probation = await open_casework(backend, None)
    legacy = {"c_old1": ("note from before, serval-1001", "check-in from before, margay-1002"),
              "c_old2": ("note from before, caracal-2001", "check-in from before, fossa-2002")}
    for contact, (note, checkin) in legacy.items():
        await write_casework(cases, probation, contact, note=note, checkin_note=checkin)
    # Encryption on, under master key k1.
    old = ring("k1")
    store, cases, probation = await open_casework(backend, FieldCipher(old))
    seq = await process(store)
    await write_casework(cases, probation)
    assert raw_hits(backend, tmp_path, "ocelot-4471", "pangolin-6630") == []  # c_a's own; the rest is shared
    # `caseline keys rotate` with k2 added and made active; every step one row at a time.
    rotated = FieldCipher(ring("k2", "k1", keys=dict(old.keys)))
    store, cases, probation = await open_casework(backend, rotated)
    assert await cases.seal_plain(limit=1) == 1  # interrupted after one case...
    still_plain = [c for c, (note, _) in legacy.items() if note in "\n".join(raw_strings(backend, tmp_path))]
    assert len(still_plain) == 1
    lines: list[str] = []
    await rotate(store, [cases, probation], rotated, batch=1, new_key=False, echo=lines.append)  # ...resumed
    assert any("re-wrapped 1/1" in line for line in lines) and any("sealed" in line for line in lines)
    assert await store.key_counts() == {"k2": 3}
    stored = raw_strings(backend, tmp_path)  # the rows as they are now (old page images aside)
    assert not [s for s in stored for n in (*CASEWORK_MARKERS, "serval", "margay", "caracal", "fossa") if n in s]
    assert await cases.seal_plain() == 0 and await probation.seal_plain() == 0  # nothing left: the rerun is a no-op
    # k1 retired: everything reads back under k2 alone, in a fresh process.
    only_new = FieldCipher(Keyring(active="k2", keys={"k2": rotated.keyring.keys["k2"]}))
    reader, cases, probation = await open_casework(backend, only_new)
    await check_reads_back(reader, "c_a", seq)
    await check_casework(cases, probation)
    for contact, (note, checkin) in legacy.items():
        await check_casework(cases, probation, contact, note=note, checkin_note=checkin)


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
