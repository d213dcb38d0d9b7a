"""Two server processes on one SQLite store: per-contact order and no lost update."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from caseline.crypto import FieldCipher
from caseline.identity import contact_id
from caseline.keyring import keyring_for
from caseline.settings import load_settings
from caseline.store.factory import Backend, conversation_store
from caseline.store.sqlite import SqliteDb
from tests.foundation.server import ServerProcess

pytestmark = pytest.mark.slow


async def test_fifty_concurrent_messages_over_two_processes_keep_order(tmp_path: Path) -> None:
    data = tmp_path / "var"
    a = ServerProcess(data).start()
    b = ServerProcess(data).start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(a.url + "/webchat/sessions", json={}) as r:
                sid = (await r.json())["session_id"]

            async def send(i: int) -> int:
                server = (a, b)[i % 2]
                body = {"session_id": sid, "text": f"message {i}", "client_message_id": f"m{i}"}
                async with http.post(server.url + "/webchat/messages", json=body) as r:
                    assert r.status == 200, await r.text()
                    return len((await r.json())["replies"])

            replies = await asyncio.gather(*(send(i) for i in range(50)))
        assert all(n >= 1 for n in replies)
    finally:
        a.stop()
        b.stop()

    contact = contact_id(a.env["CASELINE_SECRET_KEY"], "webchat", sid)
    settings = load_settings(data_dir=data, secret_key=a.env["CASELINE_SECRET_KEY"])
    ring = keyring_for(settings)
    store = conversation_store(Backend(sqlite=SqliteDb(settings.sqlite_path)), FieldCipher(ring) if ring else None)
    await store.open()
    conv = await store.load_conversation(contact)
    await store.close()
    assert conv is not None and conv.state["turns"] == 50  # every turn saw the previous one's state
    db = sqlite3.connect(data / "caseline.sqlite3")
    accepted = [s for (s,) in db.execute("SELECT seq FROM inbound WHERE contact_id = ? ORDER BY seq", (contact,))]
    processed = [
        s for (s,) in db.execute(
            "SELECT inbound_seq FROM transcript WHERE contact_id = ? AND direction = 'in' ORDER BY seq",
            (contact,),
        )
    ]
    assert len(accepted) == 50 and processed == accepted  # processed in arrival order, once each
    first_reply = [
        s for (s,) in db.execute(
            "SELECT inbound_seq FROM outbox WHERE contact_id = ? AND inbound_seq IS NOT NULL"
            " GROUP BY inbound_seq ORDER BY MIN(id)",
            (contact,),
        )
    ]
    assert first_reply == accepted
    pending = db.execute("SELECT COUNT(*) FROM inbound WHERE status != 'done'").fetchone()[0]
    assert pending == 0
