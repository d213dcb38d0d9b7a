"""SIGKILL soak (issue #10): kill ``caseline serve`` ten times under webhook load.

``caseline serve`` runs as real child processes on one embedded SQLite store, with Telegram
pointed at the fake Bot API in this process (``CASELINE_LEASE_SECONDS=2``, so a dead process's
leases lapse quickly). Users, some sending several messages in a row and every eighth one
disclosing ("I want to kill myself tonight"), post webhook updates while a random live
process is SIGKILLed at random moments (every other time while a webhook POST to it is in
flight) and restarted on the same store, ten times. An update is *accepted* when its webhook
POST answered 200; any other outcome (a connection cut by the kill, a refused connection, a
5xx) is re-sent, as Telegram does.

After the last restart the test waits for the inbox and the outbox to drain, stops the
processes and audits the store against what the fake platform received:

* every accepted message is in the inbox once, processed, with at least one reply decided,
  and every reply is marked sent;
* every reply marked sent is one message the platform received (its ``platform_message_id``
  is the fake's ``chat:message_id``), with the same text: nothing lost;
* anything else the platform received is a second copy of a reply: a duplicate;
* per chat, replies arrived in outbox order;
* every contact who disclosed has exactly one open case, which records the disclosure once.

Duplicates are told apart by where their first copy came from. The fake notes the client
port of every send; just before each SIGKILL the victim is frozen (SIGSTOP) and its TCP ports
are read from /proc. A first copy sent over a port of a process killed within a lease after
it, repeated for good after that kill, is the documented at-least-once boundary
(docs/deploy.md): the platform accepted the reply, the process died before its store said
"sent", and the reply went again once the lease lapsed. Telegram's sendMessage has no
idempotency key, so no code can close that window, only narrow it; the test counts those
duplicates and prints them. Any other duplicate, a loss, a reordering or a missing or doubled
case fails the test.

Two processes run side by side (the production shape of docs/deploy.md: what a killed process
accepted is finished by the other once its leases lapse, or by itself after the restart). One
process would work the same way, but ``caseline serve`` needs about 5 s of CPU to start
(aiogram's types), and eleven serial starts would not fit the time budget.

Run with ``-s`` to see the one-line summary; ``soak-journal.json`` beside the server logs in
the test's tmp directory has the timeline. ``CASELINE_SOAK_SEED`` replays a run's choices
(the seed is in the summary), not its timing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bots.common import split_text
from caseline.crypto import FieldCipher
from caseline.identity import contact_id
from caseline.keyring import keyring_for
from caseline.settings import load_settings
from caseline.store.factory import Backend, conversation_store
from caseline.store.sqlite import SqliteDb
from caseline.waiting import wait_set
from tests.fakes.telegram_api import FakeTelegramApi
from tests.foundation.server import ServerProcess, free_port

KILLS = 10
WORKERS = 2
LEASE_SECONDS = 2
UP_BEFORE_KILL = (0.4, 2.0)  # seconds a process serves before it is killed, at random
USER_EVERY = (0.2, 0.6)  # seconds between new users arriving
DRAIN_TIMEOUT = 30.0
MARGIN = 0.5  # seconds the fake may take to answer what a victim sent just before its death
FIRST_START = 180.0  # seconds; with a cold model cache the first start trains the NLU and the screen
DEADLINE = FIRST_START + 120.0  # for the whole run: a process that cannot start must fail the test, not hang it
SECRET = "tg-webhook-secret_soak"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
TELEGRAM_MAX_TEXT = 4096
RISK = "I want to kill myself tonight"
PLAIN = [
    "hi", "hello there", "my 4 year old won't sleep at night", "how much screen time is ok for a 7 year old",
    "my son has tantrums every evening", "how do i talk to my teenager", "menu", "thanks",
    "how do i report a fake account on instagram", "1", "2", "help", "ok",
]


# ---------------------------------------------------------------------------- the audit


@dataclass(frozen=True)
class Accepted:
    """An update whose webhook POST answered 200."""

    chat: int
    message_id: int
    text: str

    @property
    def risk(self) -> bool:
        return self.text == RISK


@dataclass(frozen=True)
class Delivery:
    """A sendMessage the fake platform answered to a live caller: a message the user sees."""

    chat: int
    message_id: int
    text: str
    at: float  # time.monotonic(), to compare with the kills
    port: int = 0  # the caller's TCP port
    wall: float = 0.0  # time.time(), to compare with the store's sent_at

    @property
    def platform_id(self) -> str:
        return f"{self.chat}:{self.message_id}"


@dataclass(frozen=True)
class Kill:
    at: float  # time.monotonic() once the victim is dead
    ports: frozenset[int]  # its TCP ports, read while it was frozen just before the SIGKILL


@dataclass(frozen=True)
class Decided:
    """An outbox item, as the store has it at the end."""

    id: int
    chat: int
    inbound_seq: int | None
    status: str
    text: str
    attempts: int
    platform_message_id: str | None
    marked_at: float | None = None  # sent_at, as a time.time()


@dataclass
class Audit:
    accepted: int = 0
    replies: int = 0
    delivered: int = 0
    resent_items: int = 0
    risk_messages: int = 0
    cases_ok: int = 0
    lost: list[str] = field(default_factory=list)
    at_boundary: list[str] = field(default_factory=list)  # duplicates from the documented at-least-once window
    duplicated: list[str] = field(default_factory=list)  # any other duplicate
    out_of_order: list[str] = field(default_factory=list)
    case_problems: list[str] = field(default_factory=list)
    mark_lags: list[float] = field(default_factory=list)  # platform answered -> store marked sent, seconds

    @property
    def failures(self) -> list[str]:
        return [*self.lost, *self.duplicated, *self.out_of_order, *self.case_problems]


def inbound_key(bot_id: int, chat: int, message_id: int) -> str:
    """How the Telegram connector keys a message in the inbox (see bots/telegram.py)."""
    return f"{bot_id}:m:{chat}:{message_id}"


def audit(
    bot_id: int,
    accepted: Sequence[Accepted],
    inbox: dict[str, tuple[int, str]],
    outbox: Sequence[Decided],
    deliveries: Sequence[Delivery],
    cases: dict[str, list[list[int | None]]],
    contact_of: dict[int, str],
    kills: Sequence[Kill] = (),
    lease: float = LEASE_SECONDS,
) -> Audit:
    """Compare what was accepted, what the store decided and what the platform received.

    ``inbox`` maps platform message ids to (seq, status); ``cases`` maps contact ids to the
    inbound seqs of the triggers of each of their *open* cases; ``lease`` is the outbox lease.
    """
    result = Audit(accepted=len(accepted), replies=len(outbox), delivered=len(deliveries),
                   resent_items=sum(1 for d in outbox if d.attempts > 1))
    by_seq: dict[int, list[Decided]] = defaultdict(list)
    for item in outbox:
        if item.inbound_seq is not None:
            by_seq[item.inbound_seq].append(item)

    # 1. Every accepted message is in the inbox, processed, and its replies are marked sent.
    seq_of: dict[Accepted, int] = {}
    for msg in accepted:
        row = inbox.get(inbound_key(bot_id, msg.chat, msg.message_id))
        where = f"chat {msg.chat} message {msg.message_id} ({msg.text!r})"
        if row is None:
            result.lost.append(f"{where}: answered 200 but not in the inbox")
            continue
        seq, status = row
        seq_of[msg] = seq
        if status != "done":
            result.lost.append(f"{where}: inbox seq {seq} still {status}")
        elif not by_seq.get(seq):
            result.lost.append(f"{where}: inbox seq {seq} processed without a reply")
        for item in by_seq.get(seq, []):
            if item.status != "sent":
                result.lost.append(f"{where}: reply {item.id} is {item.status} after {item.attempts} attempts")
    if len(inbox) != len(seq_of):
        result.lost.append(f"{len(inbox) - len(seq_of)} inbox row(s) for messages nobody sent")

    # 2. Every reply marked sent is exactly one message on the platform, with its text.
    by_platform_id = {d.platform_id: d for d in deliveries}
    matched: dict[str, Decided] = {}
    for item in outbox:
        if item.status != "sent":
            continue
        delivery = by_platform_id.get(item.platform_message_id or "")
        if delivery is None:
            result.lost.append(f"reply {item.id} to chat {item.chat} is marked sent as"
                               f" {item.platform_message_id!r}, which the platform never received")
        elif delivery.chat != item.chat or delivery.text != item.text:
            result.lost.append(f"reply {item.id}: the platform's {delivery.platform_id} is"
                               f" {delivery.text!r} to {delivery.chat}, not {item.text!r} to {item.chat}")
        else:
            matched[delivery.platform_id] = item
            if item.marked_at is not None and delivery.wall:
                result.mark_lags.append(item.marked_at - delivery.wall)

    # 3. Anything else the platform received is a second copy of some reply. It is the
    # at-least-once boundary if it went over a connection of a process killed within a lease
    # afterwards (a sender that lived on longer would have marked it, or lost its lease while
    # alive), and the reply it repeats went out again, for good, after that kill. The fake may
    # answer what the victim sent just before it died a moment after the death: hence the
    # margin (a port is not reused that fast).
    final_at = {item.id: by_platform_id[pid].at for pid, item in matched.items()}
    for delivery in deliveries:
        if delivery.platform_id in matched:
            continue
        twins = [i for i in outbox if i.chat == delivery.chat and i.text == delivery.text]
        killer = next((k for k in kills if delivery.port in k.ports and -MARGIN <= k.at - delivery.at < lease), None)
        what = (f"chat {delivery.chat} got {delivery.text[:50]!r} twice: message {delivery.message_id} from port"
                f" {delivery.port}, then outbox item(s) {[(i.id, i.attempts) for i in twins]} as (id, attempts)")
        if killer is not None and any(i.attempts > 1 and final_at.get(i.id, 0.0) > killer.at for i in twins):
            result.at_boundary.append(f"{what}; its sender was killed {killer.at - delivery.at:.3f} s later")
        else:
            result.duplicated.append(f"{what}; its sender was not killed before marking it")

    # 4. Per chat, replies reached the user in the order the outbox decided them.
    per_chat: dict[int, list[int]] = defaultdict(list)
    for delivery in deliveries:
        if delivery.platform_id in matched:
            per_chat[delivery.chat].append(matched[delivery.platform_id].id)
    for chat, ids in per_chat.items():
        if ids != sorted(ids):
            result.out_of_order.append(f"chat {chat} received outbox items in the order {ids}")

    # 5. Every disclosure is in exactly one open case of its contact, once.
    for msg in accepted:
        if not msg.risk:
            continue
        result.risk_messages += 1
        open_cases = cases.get(contact_of[msg.chat], [])
        disclosed = seq_of.get(msg)
        if len(open_cases) != 1:
            result.case_problems.append(f"chat {msg.chat} disclosed; {len(open_cases)} open cases")
        elif open_cases[0].count(disclosed) != 1:
            result.case_problems.append(f"chat {msg.chat}: the open case has inbound seq {disclosed}"
                                        f" {open_cases[0].count(disclosed)} times among {open_cases[0]}")
        else:
            result.cases_ok += 1
    return result


def test_the_audit_catches_losses_duplicates_reordering_and_doubled_cases() -> None:
    bot, chat, other = 1, 10, 11
    accepted = [Accepted(chat, 1, "hi"), Accepted(chat, 2, RISK), Accepted(other, 1, "hi")]
    inbox = {inbound_key(bot, chat, 1): (1, "done"), inbound_key(bot, chat, 2): (2, "done"),
             inbound_key(bot, other, 1): (3, "done")}
    outbox = [Decided(1, chat, 1, "sent", "Hello", 1, "10:100"), Decided(2, chat, 2, "sent", "Call 116", 2, "10:102"),
              Decided(3, other, 3, "sent", "Hello", 1, "11:103")]
    first, again, resent, hello = (Delivery(chat, 100, "Hello", 1.0, 5000), Delivery(chat, 101, "Call 116", 2.0, 5000),
                                   Delivery(chat, 102, "Call 116", 3.0, 6000), Delivery(other, 103, "Hello", 3.1, 6000))
    cases: dict[str, list[list[int | None]]] = {"c10": [[2]], "c11": []}
    contacts = {chat: "c10", other: "c11"}

    def run(deliveries: list[Delivery], kills: Sequence[Kill] = (), **changed: Any) -> Audit:
        given: dict[str, Any] = {"inbox": inbox, "outbox": outbox, "cases": cases, **changed}
        return audit(bot, accepted, given["inbox"], given["outbox"], deliveries, given["cases"], contacts, kills)

    clean = run([first, resent, hello])
    assert clean.failures == [] and clean.at_boundary == [] and clean.cases_ok == 1

    # A second copy whose sender was killed before marking it: the at-least-once boundary.
    boundary = run([first, again, resent, hello], [Kill(2.05, frozenset({5000}))])
    assert len(audit(bot, accepted, inbox, outbox, [first, again, resent, hello], cases, contacts,
                     [Kill(2.95, frozenset({5000}))], lease=0.5).duplicated) == 1  # killed, but a lease later
    assert boundary.failures == [] and len(boundary.at_boundary) == 1 and "(2, 2)" in boundary.at_boundary[0]
    # The same copy from a process that lived on (or was killed only after the resend): a duplicate.
    for kills in ([], [Kill(2.05, frozenset({6000}))], [Kill(3.5, frozenset({5000}))], [Kill(1.4, frozenset({5000}))]):
        assert len(run([first, again, resent, hello], kills).duplicated) == 1

    assert len(run([first, resent]).lost) == 1  # marked sent, never received
    assert len(run([first, resent], outbox=[*outbox[:2], Decided(3, other, 3, "pending", "Hello", 3, None)]).lost) == 1
    assert len(run([first, resent], inbox={**inbox, inbound_key(bot, other, 1): (3, "pending")},
                   outbox=outbox[:2]).lost) == 1  # not processed
    assert len(run([first, resent, hello], inbox={**inbox, "1:m:12:1": (4, "done")}).lost) == 1
    assert len(run([first, Delivery(chat, 102, "Call 999", 3.0), hello]).lost) == 1

    assert run([first, hello, resent]).out_of_order == []
    assert len(run([Delivery(chat, 102, "Call 116", 0.5), first, hello]).out_of_order) == 1

    assert len(run([first, resent, hello], cases={"c10": [[2], [2]]}).case_problems) == 1
    assert len(run([first, resent, hello], cases={"c10": [[2, 2]]}).case_problems) == 1
    assert len(run([first, resent, hello], cases={}).case_problems) == 1


# ---------------------------------------------------------------------------- the soak


class TimedTelegramApi(FakeTelegramApi):
    """The fake Bot API, also noting when and over which connection each delivery was answered."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.answered_at: dict[int, tuple[float, int, float]] = {}

    async def m_sendMessage(self, request: web.Request, p: dict[str, Any]) -> web.Response:
        response = await super().m_sendMessage(request, p)
        # Nothing awaits between the fake's append and here: the last entry is this call's, if it delivered.
        if self.sent and self.sent[-1]["message_id"] not in self.answered_at:
            peer = request.transport.get_extra_info("peername") if request.transport else None
            self.answered_at[self.sent[-1]["message_id"]] = (time.monotonic(), int(peer[1]) if peer else 0,
                                                             time.time())
        return response

    def deliveries(self) -> list[Delivery]:
        return [Delivery(int(s["chat_id"]), int(s["message_id"]), str(s["text"]), *self.answered_at[s["message_id"]])
                for s in self.sent]


@pytest.fixture
async def tg_api() -> AsyncIterator[TimedTelegramApi]:
    api = TimedTelegramApi()
    await api.start()
    yield api
    await api.close()


def tcp_ports(pid: int) -> frozenset[int]:
    """The local ports of a process's TCP sockets (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return frozenset(ports)


class Cluster:
    """``caseline serve`` processes on one data directory, each on its own port."""

    def __init__(self, data: Path, env: dict[str, str], workers: int) -> None:
        self.data, self.env = data, env
        self.ports = [free_port() for _ in range(workers)]
        self.procs: list[ServerProcess | None] = [None] * workers
        self.live: set[int] = set()
        self.kills: list[Kill] = []
        self.starts = 0
        self.pending: set[asyncio.Task[None]] = set()
        self.failed: list[BaseException] = []
        self.journal: list[tuple[float, str, int]] = []  # (time.time(), event, slot)

    def secret_key(self) -> str:
        """The ``CASELINE_SECRET_KEY`` the processes run with (it keys the contact ids)."""
        return next(p for p in self.procs if p is not None).env["CASELINE_SECRET_KEY"]

    def url(self, slot: int) -> str:
        return f"http://127.0.0.1:{self.ports[slot]}"

    async def start(self, slot: int, timeout: float = 60.0) -> None:
        proc = ServerProcess(self.data, command="serve", env=self.env, port=self.ports[slot])
        self.procs[slot] = proc
        self.starts += 1
        self.journal.append((time.time(), "start", slot))
        await asyncio.to_thread(proc.start, timeout)
        self.journal.append((time.time(), "live", slot))
        self.live.add(slot)

    def start_soon(self, slot: int) -> None:
        task = asyncio.create_task(self.start(slot))
        self.pending.add(task)
        task.add_done_callback(self._started)

    def _started(self, task: asyncio.Task[None]) -> None:
        self.pending.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self.failed.append(error)

    async def wait_live(self) -> None:
        while not self.live:
            if self.failed:
                raise RuntimeError("a server process did not start") from self.failed[0]
            await asyncio.sleep(0.05)

    async def kill(self, slot: int) -> None:
        proc = self.procs[slot]
        assert proc is not None and proc.proc is not None
        self.live.discard(slot)
        popen = proc.proc

        def freeze_note_and_kill() -> Kill:
            popen.send_signal(signal.SIGSTOP)  # no new connection between reading its ports and its death
            ports = tcp_ports(popen.pid)
            proc.kill()
            return Kill(time.monotonic(), ports)

        self.kills.append(await asyncio.to_thread(freeze_note_and_kill))
        self.journal.append((time.time(), "kill", slot))
        # Keep each incarnation's log: the next start on this port truncates the file.
        proc.log.rename(proc.log.with_name(f"{proc.log.stem}.killed-{len(self.kills)}.log"))

    async def settle(self) -> None:
        while self.pending:
            await asyncio.wait(self.pending)
        if self.failed:
            raise RuntimeError("a server process did not start") from self.failed[0]

    async def stop(self) -> None:
        while self.pending:
            await asyncio.wait(self.pending)
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in self.procs if p is not None))
        self.live.clear()


class Load:
    """Users posting Telegram webhook updates, each in order, re-sending whatever did not get a 200."""

    def __init__(self, cluster: Cluster, http: aiohttp.ClientSession, rng: random.Random) -> None:
        self.cluster, self.http, self.rng = cluster, http, rng
        self.update_ids = itertools.count(500_000_001)
        self.accepted: list[Accepted] = []
        self.chats: list[int] = []
        self.posts = 0
        self.retried = 0
        self.posting: Counter[int] = Counter()  # webhook POSTs in flight, per process slot

    def script(self, risky: bool) -> list[str]:
        texts = [self.rng.choice(PLAIN) for _ in range(self.rng.choice((1, 1, 2, 3, 4, 5)))]
        if risky:
            texts.insert(self.rng.randrange(len(texts) + 1), RISK)
        return texts

    async def post(self, update: dict[str, Any]) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        while True:
            await self.cluster.wait_live()
            slot = self.rng.choice(sorted(self.cluster.live))
            self.posts += 1
            self.posting[slot] += 1
            try:
                async with self.http.post(self.cluster.url(slot) + "/webhooks/telegram", json=update,
                                          headers=HEADERS, timeout=timeout) as r:
                    status, body = r.status, await r.text()
            except (aiohttp.ClientError, TimeoutError):
                status, body = 0, ""
            finally:
                self.posting[slot] -= 1
            if status == 200:
                return
            assert status == 0 or status >= 500, f"webhook answered {status}: {body}"
            self.retried += 1
            await asyncio.sleep(self.rng.uniform(0.05, 0.3))

    async def user(self, chat: int, texts: list[str]) -> None:
        for message_id, text in enumerate(texts, start=1):
            update = {
                "update_id": next(self.update_ids),
                "message": {
                    "message_id": message_id,
                    "from": {"id": chat, "is_bot": False, "first_name": "Sam", "language_code": "en"},
                    "chat": {"id": chat, "first_name": "Sam", "type": "private"},
                    "date": int(time.time()),
                    "text": text,
                },
            }
            await self.post(update)
            self.accepted.append(Accepted(chat, message_id, text))
            await asyncio.sleep(self.rng.uniform(0.05, 0.5))

    async def run(self, stop: asyncio.Event) -> None:
        """A new user every few tenths of a second until ``stop``; every eighth one discloses."""
        users: list[asyncio.Task[None]] = []
        for n in itertools.count():
            if stop.is_set():
                break
            chat = 7_100_000_000 + n
            self.chats.append(chat)
            users.append(asyncio.create_task(self.user(chat, self.script(risky=n % 8 == 1))))
            await wait_set(stop, self.rng.uniform(*USER_EVERY))
        await asyncio.gather(*users)


async def kill_repeatedly(cluster: Cluster, load: Load, rng: random.Random, kills: int) -> None:
    """SIGKILL a random live process at a random moment, restart it on the same store, ``kills`` times.

    Every other kill waits (briefly) for a webhook POST in flight to its victim, so that some
    updates are cut off before their 200, whether or not the inbox already holds them.
    """
    while len(cluster.kills) < kills:
        await cluster.wait_live()
        await asyncio.sleep(rng.uniform(*UP_BEFORE_KILL))
        if not cluster.live:
            continue
        slot = rng.choice(sorted(cluster.live))
        if len(cluster.kills) % 2:
            deadline = time.monotonic() + 0.5
            while not load.posting[slot] and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
        if slot in cluster.live:
            await cluster.kill(slot)
            cluster.start_soon(slot)


def backlog(db_path: Path) -> tuple[int, int]:
    """(inbound messages not yet processed, replies not yet sent or failed)."""
    with closing(sqlite3.connect(db_path, timeout=10)) as db:
        inbound = db.execute("SELECT COUNT(*) FROM inbound WHERE status != 'done'").fetchone()[0]
        outbox = db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
    return int(inbound), int(outbox)


async def wait_drained(db_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (left := await asyncio.to_thread(backlog, db_path)) != (0, 0):
        assert time.monotonic() < deadline, f"not drained after {timeout} s: (inbound, outbox) pending = {left}"
        await asyncio.sleep(0.2)


async def read_store(
    data: Path, secret: str, contacts: Iterable[str]
) -> tuple[dict[str, tuple[int, str]], list[Decided], dict[str, list[list[int | None]]], int]:
    """The inbox, the outbox (decrypted), the open cases' trigger seqs, and the outbox's row count."""
    with closing(sqlite3.connect(data / "caseline.sqlite3")) as db:
        inbox = {str(key): (int(seq), str(status))
                 for key, seq, status in db.execute("SELECT platform_message_id, seq, status FROM inbound")}
        rows = int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        marked = {int(i): datetime.fromisoformat(at).timestamp()
                  for i, at in db.execute("SELECT id, sent_at FROM outbox WHERE sent_at IS NOT NULL")}
        cases: dict[str, list[list[int | None]]] = defaultdict(list)
        for contact, triggers in db.execute("SELECT contact_id, triggers FROM cases WHERE open = 1"):
            cases[str(contact)].append([t.get("inbound_seq") for t in json.loads(triggers)])
    settings = load_settings(data_dir=data, secret_key=secret)
    ring = keyring_for(settings)
    store = conversation_store(Backend(sqlite=SqliteDb(settings.sqlite_path)), FieldCipher(ring) if ring else None)
    await store.open()
    outbox: list[Decided] = []
    try:
        for contact in contacts:
            for item in await store.outbox_since(contact, 0, limit=10_000):
                parts = split_text(item.reply.text or "…", TELEGRAM_MAX_TEXT)
                assert len(parts) == 1, f"reply {item.id} is sent in {len(parts)} parts; the audit matches one"
                outbox.append(Decided(item.id, int(item.platform_user_id), item.inbound_seq, item.status,
                                      parts[0], item.attempts, item.platform_message_id, marked.get(item.id)))
    finally:
        await store.close()
    return inbox, outbox, cases, rows


def _ms(seconds: list[float]) -> str:
    """p50/p99/max in milliseconds."""
    if not seconds:
        return "-"
    ordered = sorted(seconds)
    picks = [ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.5, 0.99)] + [ordered[-1]]
    return "/".join(f"{1000 * v:.0f}" for v in picks)


async def soak(cluster: Cluster, load: Load, rng: random.Random, phases: list[float]) -> None:
    """Start the processes, run the load while killing, finish the load, restart the last victims."""
    await cluster.start(0, timeout=FIRST_START)  # alone: it may train the models into the shared cache
    phases.append(time.monotonic())
    for slot in range(1, WORKERS):
        cluster.start_soon(slot)
    stop_load = asyncio.Event()
    users = asyncio.create_task(load.run(stop_load))
    try:
        await kill_repeatedly(cluster, load, rng, KILLS)
    except BaseException:
        users.cancel()
        raise
    finally:
        stop_load.set()
        phases.append(time.monotonic())
    await users
    await cluster.settle()
    phases.append(time.monotonic())


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the victims' sockets from /proc")
async def test_ten_sigkills_under_webhook_load(tmp_path: Path, tg_api: TimedTelegramApi) -> None:
    began = time.monotonic()
    seed = int(os.environ.get("CASELINE_SOAK_SEED") or random.randrange(1 << 32))
    rng = random.Random(seed)
    data = tmp_path / "var"
    env = {"CASELINE_TELEGRAM_TOKEN": tg_api.token, "CASELINE_TELEGRAM_WEBHOOK_SECRET": SECRET,
           "CASELINE_TELEGRAM_API_BASE": tg_api.url, "CASELINE_LEASE_SECONDS": str(LEASE_SECONDS)}
    cluster = Cluster(data, env, WORKERS)
    phases = [began]
    try:
        async with asyncio.timeout(DEADLINE), aiohttp.ClientSession() as http:
            load = Load(cluster, http, rng)
            await soak(cluster, load, rng, phases)
        await wait_drained(data / "caseline.sqlite3", DRAIN_TIMEOUT)
        await asyncio.sleep(LEASE_SECONDS / 2)  # a straggling resend would show up now
        phases.append(time.monotonic())
    finally:
        await cluster.stop()
        (tmp_path / "soak-journal.json").write_text(json.dumps({
            "seed": seed, "cluster": cluster.journal, "kills": [[k.at, sorted(k.ports)] for k in cluster.kills],
            "deliveries": [asdict(d) for d in tg_api.deliveries()], "dropped": len(tg_api.dropped),
        }))

    secret = cluster.secret_key()
    contact_of = {chat: contact_id(secret, "telegram", str(chat)) for chat in load.chats}
    inbox, outbox, cases, rows = await read_store(data, secret, contact_of.values())
    result = audit(tg_api.bot_id, load.accepted, inbox, outbox, tg_api.deliveries(), cases, contact_of,
                   cluster.kills)
    duplicates = len(result.at_boundary) + len(result.duplicated)
    print(
        f"\nSIGKILL soak: kills={len(cluster.kills)} accepted={result.accepted} replies={result.replies}"
        f" delivered={result.delivered} lost={len(result.lost)} duplicated={duplicates}"
        f" (at the send/mark boundary of a killed process {len(result.at_boundary)}, other {len(result.duplicated)})"
        f" out_of_order={len(result.out_of_order)} cases={result.cases_ok}/{result.risk_messages} disclosures"
        f" | workers={WORKERS} starts={cluster.starts} users={len(load.chats)} webhook posts={load.posts}"
        f" (re-sent {load.retried}) replies retried={result.resent_items} sends cut by a kill={len(tg_api.dropped)}"
        f" mark lag p50/p99/max={_ms(result.mark_lags)} ms seed={seed}"
        f" {time.monotonic() - began:.1f}s (start/kills/rest of load/drain"
        f" {'/'.join(f'{b - a:.1f}' for a, b in itertools.pairwise(phases))})"
    )
    for line in [*result.failures, *result.at_boundary]:
        print("  ", line)
    assert len(cluster.kills) == KILLS
    assert rows == len(outbox), "outbox rows for contacts the load never used"
    assert result.risk_messages >= 1
    assert result.lost == [], result.lost
    assert result.duplicated == [], result.duplicated
    assert result.out_of_order == [], result.out_of_order
    assert result.case_problems == [], result.case_problems
