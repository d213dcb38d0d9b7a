"""Erasure of a contact reaches the case and probation stores, on both adapters, from the
pipeline and from the CLI; the CLI's key rotation covers those stores too.

What must hold: after erasure nothing of the contact is readable anywhere in the store;
with an open case, only the case's part (conversation routing, transcript, the case's
text and the data key) remains. A probation officer keeps the plan and the compliance
facts (when each check-in was done, missed or alerted), never the content.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from caseline.crypto import UNREADABLE, FieldCipher
from caseline.erasure import erase_contact
from caseline.keyring import Keyring, keyring_for, load_keys_file
from caseline.messages import Inbound
from caseline.privacy_cli import privacy_commands
from caseline.settings import load_settings
from caseline.store.base import StoreError
from caseline.store.factory import Backend, open_backend, with_cipher
from casework.model import AuditQuery
from casework.ports import CaseStore
from casework.probation.model import CheckinWindow, Enrolment, OfficerMessage, ScheduleSpec
from casework.probation.ports import ProbationStore
from casework.probation.wiring import extension_of
from tests.casework.harness import casework
from tests.privacy.test_encryption import (
    CHECKIN_NOTE,
    NOTE,
    OCC,
    REFERRAL,
    REPLY,
    SECRET,
    T0,
    case_of,
    check_casework,
    enrolment_of,
    open_casework,
    process,
    raw_hits,
    write_casework,
)

B_NOTE, B_CHECKIN = "b's own note, gerenuk-3303", "b's own check-in, quoll-3304"


def strings_by_table(backend: Backend, tmp_path: Path) -> dict[str, list[str]]:
    """Every stored string, by table (SQLite, the key file included) or collection (MongoDB)."""
    out: dict[str, list[str]] = {}
    if backend.sqlite is not None:
        for path in tmp_path.glob("*.sqlite3"):
            conn = sqlite3.connect(path)
            try:
                tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                for table in tables:
                    rows = conn.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608
                    out.setdefault(table, []).extend(v for row in rows for v in row if isinstance(v, str))
            finally:
                conn.close()
        return out
    db = backend.mongo.raw()
    for name in db.list_collection_names():
        out[name] = [str(v) for doc in db[name].find({}) for v in _values(doc)]
    return out


def _values(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in (k, *_values(v))]
    if isinstance(value, list):
        return [x for v in value for x in _values(v)]
    return [value]


def tables_naming(backend: Backend, tmp_path: Path, needle: str) -> set[str]:
    return {t for t, values in strings_by_table(backend, tmp_path).items() if any(needle in v for v in values)}


async def assert_probation_erased(probation: ProbationStore, contact: str) -> None:
    eid = enrolment_of(contact)
    enrolment = await probation.get_enrolment(eid)
    assert enrolment is not None  # the officer's plan stays...
    assert (enrolment.alias, enrolment.schedule.at, enrolment.officer) == ("R.", "09:00", "olga")
    assert (enrolment.contact_id, enrolment.channel, enrolment.linked_at, enrolment.status) == (
        None, None, None, "pending")  # ...unlinked, so the officer can issue a new code
    assert await probation.enrolment_for_contact(contact) is None
    [window] = await probation.windows(eid)  # the compliance fact stays, without content
    assert (window.occ_key, window.status, window.checked_in_at) == (OCC, "checked_in", T0 + timedelta(minutes=5))
    assert (window.mood, window.attendance, window.note, window.needs_talk) == (None, None, None, None)
    assert await probation.messages(eid) == []
    assert [c.used_by for c in await probation.codes_for(eid)] == ["erased"]  # spent, by nobody


async def test_erasure_removes_probation_data_and_shreds_the_case_text(
    backend: Backend, tmp_path: Path, keyring: Keyring
) -> None:
    store, cases, probation = await open_casework(backend, FieldCipher(keyring))
    await process(store, "c_a")
    await write_casework(cases, probation, "c_a")
    await process(store, "c_b", user="other-9", text="other child")
    await write_casework(cases, probation, "c_b", note=B_NOTE, checkin_note=B_CHECKIN)

    report = await erase_contact(store, "c_a", lambda _cid: False, also=[probation])

    assert report.data_key == 1 and report.transcript == 2
    assert report.other == {"probation_enrolments": 1, "probation_answers": 1, "probation_messages": 1}
    assert report.as_dict()["probation_messages"] == 1
    await assert_probation_erased(probation, "c_a")
    # The resolved case stays as the organisation's record; its text went with the key, also
    # for a process that never saw the key.
    for reader in (cases, (await open_casework(backend, FieldCipher(keyring)))[1]):
        case = await reader.get(case_of("c_a"))
        assert case is not None and (case.status, case.severity) == ("resolved", "high")
        assert [n.text for n in (*case.notes, *case.referrals)] == [UNREADABLE, UNREADABLE]
        assert case.outcome == UNREADABLE
    # The contact id is left only on that case record; nowhere in probation, conversations or keys.
    assert tables_naming(backend, tmp_path, "c_a") == {"cases"}
    assert raw_hits(backend, tmp_path, "ocelot-4471", "pangolin-6630", "zebra") == []
    # Another contact is untouched.
    await check_casework(cases, probation, "c_b", note=B_NOTE, checkin_note=B_CHECKIN)
    assert [e.text for e in await store.transcript("c_b")] == ["other child", REPLY]


async def test_erasure_with_an_open_case_keeps_only_the_case_part(
    backend: Backend, tmp_path: Path, keyring: Keyring
) -> None:
    store, cases, probation = await open_casework(backend, FieldCipher(keyring))
    await process(store, "c_a")
    await write_casework(cases, probation, "c_a", resolve=False)
    await store.update_state("c_a", {"case_id": case_of("c_a")})

    async def open_case(contact_id: str) -> bool:
        return await cases.open_case(contact_id) is not None

    report = await erase_contact(store, "c_a", open_case, also=[probation])

    assert report.kept_data_key and report.kept_transcript == 2
    assert report.other["probation_answers"] == 1 and report.other["probation_messages"] == 1
    # The case's part: the transcript and the case's own text stay readable...
    assert [e.text for e in await store.transcript("c_a")] == [SECRET, REPLY]
    case = await cases.get(case_of("c_a"))
    assert case is not None and [n.text for n in case.notes] == [NOTE] and case.referrals[0].text == REFERRAL
    # ...the probation data does not, although the data key stays.
    await assert_probation_erased(probation, "c_a")
    assert not [s for t, values in strings_by_table(backend, tmp_path).items() if t.startswith("probation")
                for s in values if "c_a" in s]
    assert raw_hits(backend, tmp_path, "pangolin-6630", "axolotl-1187") == []
    # When the case closes, erasing again takes the rest, the case's text included.
    assert await cases.resolve(case_of("c_a"), "support_given", T0 + timedelta(days=1)) is not None
    final = await erase_contact(store, "c_a", open_case, also=[probation])
    assert final.data_key == 1 and final.other["probation_enrolments"] == 0
    _store, fresh, _probation = await open_casework(backend, FieldCipher(keyring))
    closed = await fresh.get(case_of("c_a"))
    assert closed is not None and [n.text for n in closed.notes] == [UNREADABLE] and closed.outcome == UNREADABLE


async def test_probation_erasure_dry_run_changes_nothing(backend: Backend, keyring: Keyring) -> None:
    store, cases, probation = await open_casework(backend, FieldCipher(keyring))
    await process(store, "c_a")
    await write_casework(cases, probation, "c_a")
    report = await erase_contact(store, "c_a", None, dry_run=True, also=[probation])
    assert report.dry_run and report.other == {"probation_enrolments": 1, "probation_answers": 1,
                                               "probation_messages": 1}
    await check_casework(cases, probation, "c_a")
    assert await probation.enrolment_for_contact("c_a") is not None


async def test_sealed_text_for_an_unlinked_enrolment_is_refused_not_stored_plain(
    backend: Backend, tmp_path: Path, keyring: Keyring
) -> None:
    _store, _cases, probation = await open_casework(backend, FieldCipher(keyring))
    await probation.add_enrolment(Enrolment("enr_x", "R.", "olga", "default", ScheduleSpec("daily", "UTC", "09:00"),
                                            60, "checkin", "pending", T0))
    await probation.open_window(CheckinWindow("enr_x", OCC, T0, T0 + timedelta(hours=1)))
    with pytest.raises(StoreError):
        await probation.record_answer("enr_x", OCC, "note", "no one to seal for, kinkajou-5505", T0)
    with pytest.raises(StoreError):
        await probation.add_message(OfficerMessage("x:1", "enr_x", "note", "kinkajou-5505", T0))
    assert raw_hits(backend, tmp_path, "kinkajou-5505") == []
    window = await probation.get_window("enr_x", OCC)
    assert window is not None and window.note is None and window.status == "open"


async def test_the_pipeline_erases_probation_data_with_the_contact(make_services: Any) -> None:
    """A young person's "delete my data" reaches the probation store, and the audit counts it."""
    services = await make_services()
    extension = extension_of(services)
    assert extension is not None and services.pipeline.erasers == [extension.store]
    probation, cases = extension.store, casework(services).store
    contact, uid = "c_pipe", "u-pipe"
    await services.store.ensure_conversation(contact, "webchat", uid)
    await services.store.update_state(contact, {"fields": {"lang": "en", "role": "parent", "consent_version": "1"}})
    await write_casework(cases, probation, contact)  # the case is resolved: nothing keeps the key
    await check_casework(cases, probation, contact)
    now = datetime.now(UTC)
    for n, (text, payload) in enumerate((("hi", None), ("delete my data", None), (None, "confirm.yes_delete"))):
        await services.pipeline.submit(Inbound("webchat", uid, contact, f"pipe-{n}", now + timedelta(seconds=n),
                                               text=text, payload=payload, kind="text" if text else "button"))
    await assert_probation_erased(probation, contact)
    [entry] = await cases.query_audit(AuditQuery(action="contact.erased"))
    assert entry.target == contact and entry.detail["probation_messages"] == "1"
    case = await cases.get(case_of(contact))
    assert case is not None and [n.text for n in case.notes] == [UNREADABLE]


def test_keys_rotate_and_erase_commands_cover_case_and_probation_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [k for k in os.environ if k.startswith("CASELINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CASELINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CASELINE_SECRET_KEY", "s" * 40)
    settings = load_settings()
    commands = {c.name: c for c in privacy_commands()}
    runner = CliRunner()

    async def with_stores(action: Any) -> None:
        ring = keyring_for(settings)
        assert ring is not None
        backend = with_cipher(open_backend(settings), FieldCipher(ring))
        store, cases, probation = await open_casework(backend, backend.cipher)
        try:
            await action(store, cases, probation)
        finally:
            await store.close()

    async def write(store: Any, cases: CaseStore, probation: ProbationStore) -> None:
        await process(store, "c_a")
        await write_casework(cases, probation, "c_a")

    async def reads_back(store: Any, cases: CaseStore, probation: ProbationStore) -> None:
        assert [e.text for e in await store.transcript("c_a")] == [SECRET, REPLY]
        await check_casework(cases, probation, "c_a")

    async def erased(store: Any, cases: CaseStore, probation: ProbationStore) -> None:
        assert await store.transcript("c_a") == []
        await assert_probation_erased(probation, "c_a")
        case = await cases.get(case_of("c_a"))
        assert case is not None and case.outcome == UNREADABLE

    asyncio.run(with_stores(write))
    old = load_keys_file(tmp_path / "keys.yml").active
    rotated = runner.invoke(commands["keys"], ["rotate", "--batch", "1"])
    assert rotated.exit_code == 0, rotated.output
    assert "new active master key" in rotated.output and "re-wrapped 1/1" in rotated.output
    assert load_keys_file(tmp_path / "keys.yml").active != old
    retired = runner.invoke(commands["keys"], ["retire", old])
    assert retired.exit_code == 0, retired.output
    assert list(load_keys_file(tmp_path / "keys.yml").keys) != [old]
    asyncio.run(with_stores(reads_back))  # under the new master key alone
    erase = runner.invoke(commands["erase"], ["--contact", "c_a", "--yes"])
    assert erase.exit_code == 0, erase.output
    assert "probation_messages: 1" in erase.output and "probation_answers: 1" in erase.output
    asyncio.run(with_stores(erased))
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("*.sqlite3*"))
    assert stored and CHECKIN_NOTE.encode() not in stored and NOTE.encode() not in stored
