"""End-to-end webhook load: Caseline against a bare aiogram echo bot, same machine, same run.

    python bench/bench_e2e.py [--rate 1000] [--seconds 10] [--contacts first|returning|both]
                              [--store sqlite|mongodb://...]

Starts local fakes of the Telegram Bot API and the WhatsApp Graph API in this process,
starts `caseline serve` (a separate process, embedded store unless --store says otherwise)
with its API base URLs pointed at them, and sends realistic webhook payloads from many
contacts at a fixed rate (open loop). It reports throughput and webhook-to-reply latency
(first reply seen at the fake API), and for the risk messages (1 in 50) the time until the
case is visible in the queue API (the queue list does not show contacts, so a probe opens each
new case once, an audited request: once the server is saturated that figure includes the
probe's own queueing behind the load). Then it runs the same Telegram load against a bare
aiogram webhook echo bot (bench/bare_aiogram_echo.py) and prints the ratio.

Two kinds of load, per channel:

* ``first``: every message comes from a contact never seen before (a data key, a
  conversation and the language menu for each): the worst case, a flood of newcomers.
* ``returning``: contacts that already chose a language and agreed to the notice (done
  untimed beforehand: "hi", "1", "1") each send one message into the main menu: the usual
  traffic of a service whose users come back.

Every request goes to 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456789:AAbenchTokenForLocalFakesOnly0123456789"
SECRET = "bench-webhook-secret"
APP_SECRET = "bench-app-secret"
PHONE_ID = "1000001"
KEY = "bench-secret-key-" + "z" * 32

PLAIN = [
    "hi", "hello there", "my 4 year old won't sleep at night", "how much screen time is ok for a 7 year old",
    "my son has tantrums every evening", "how do i talk to my teenager", "someone is bullying my daughter online",
    "how do i report a fake account on instagram", "thanks", "i want to check in",
]
RISK = ["my stepdad hits me every night", "i want to kill myself tonight", "he says he will send my nudes to everyone"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Recorder:
    """The fake platform APIs: answer like the real ones and note when each chat got a reply."""

    first_reply: dict[str, float] = field(default_factory=dict)
    first_text: dict[str, str] = field(default_factory=dict)
    replies: int = 0
    last_reply_at: float = 0.0

    def note(self, chat: str, text: str) -> None:
        self.replies += 1
        self.last_reply_at = time.perf_counter()
        if chat not in self.first_reply:
            self.first_reply[chat] = self.last_reply_at
            self.first_text[chat] = text

    async def quiet(self, seconds: float = 1.0, limit: float = 600.0) -> None:
        """Until no reply has arrived for ``seconds`` (the server has worked off its backlog)."""
        deadline = time.perf_counter() + limit
        while time.perf_counter() - self.last_reply_at < seconds and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)

    async def telegram(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        data: dict[str, Any] = dict(await request.post()) if request.content_type != "application/json" else (
            await request.json())
        if method == "getMe":
            return web.json_response({"ok": True, "result": {"id": 123456789, "is_bot": True, "first_name": "Bench",
                                                             "username": "bench_bot"}})
        if method == "sendMessage":
            chat = str(data.get("chat_id"))
            self.note(f"tg:{chat}", str(data.get("text", "")))
            return web.json_response({"ok": True, "result": {
                "message_id": self.replies, "date": int(time.time()),
                "chat": {"id": int(chat), "type": "private"}, "text": str(data.get("text", ""))[:50]}})
        return web.json_response({"ok": True, "result": True})

    async def graph(self, request: web.Request) -> web.Response:
        body = await request.json()
        text = body.get("text", {}).get("body") or json.dumps(body.get("interactive", ""))
        self.note(f"wa:{body.get('to')}", str(text))
        return web.json_response({"messaging_product": "whatsapp", "contacts": [{"input": body.get("to"),
                                  "wa_id": body.get("to")}], "messages": [{"id": f"wamid.out{self.replies}"}]})


def telegram_update(n: int, user: int, text: str) -> dict[str, Any]:
    who = {"id": user, "is_bot": False, "first_name": "Ana", "language_code": "en"}
    return {"update_id": 100000 + n, "message": {"message_id": n, "date": int(time.time()), "from": who,
                                                  "chat": {"id": user, "type": "private", "first_name": "Ana"},
                                                  "text": text}}


def whatsapp_update(n: int, user: int, text: str) -> dict[str, Any]:
    wa_id = f"4479{user:08d}"
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{
        "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_ID},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": f"wamid.in{n}", "timestamp": str(int(time.time())), "type": "text",
                      "text": {"body": text}}]}}]}]}


@dataclass
class Result:
    name: str
    sent: int
    accepted: int
    seconds: float
    latencies_ms: list[float]
    case_ms: list[float]

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        lat = sorted(self.latencies_ms)

        def p(q: float) -> float:
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")

        out = (f"{self.name}: sent {self.sent}, accepted {self.accepted}, replied {len(lat)} "
               f"in {self.seconds:.1f}s -> {len(lat) / self.seconds:.0f} replies/s; "
               f"webhook-to-reply p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms")
        if self.case_ms:
            cs = sorted(self.case_ms)
            out += (f"; risk message to case in queue API: n={len(cs)}, p50 {statistics.median(cs):.0f} ms, "
                    f"p99 {cs[min(len(cs) - 1, int(0.99 * len(cs)))]:.0f} ms")
        return out


ONBOARDING = ("hi", "1", "1")
LANGUAGE_QUESTION = "Which language would you like?"  # the language menu, then "Yes, that's OK" to the notice


async def onboard(url: str, headers_for: Any, payload_for: Any, users: list[int], rec: Recorder,
                  first_n: int) -> None:
    """Untimed: each user says hi, picks English and agrees, in order (the server keeps
    per-contact order), 64 users at a time; then wait for the replies to stop."""
    limit = asyncio.Semaphore(64)
    conn = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=conn) as http:

        async def one(k: int, user: int) -> None:
            async with limit:
                for step, text in enumerate(ONBOARDING):
                    body = json.dumps(payload_for(first_n + k * len(ONBOARDING) + step, user, text)).encode()
                    async with http.post(url, data=body, headers=headers_for(body)) as r:
                        if r.status != 200:
                            raise RuntimeError(f"onboarding webhook answered {r.status}")

        await asyncio.gather(*(one(k, u) for k, u in enumerate(users)))
    await rec.quiet()


async def load(
    name: str, url: str, headers_for: Any, payload_for: Any, chat_key: Any, rec: Recorder, rate: float,
    seconds: float, case_probe: Any = None, users: list[int] | None = None,
) -> Result:
    """Message n comes from ``users[n]`` when given (one message each), else from a new user."""
    total = int(rate * seconds)
    sent_at: dict[str, float] = {}
    accepted = 0
    case_ms: list[float] = []
    probes: list[asyncio.Task[None]] = []
    conn = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=conn) as http:
        start = time.perf_counter()

        async def one(n: int) -> None:
            nonlocal accepted
            user = users[n] if users else 10_000_000 + n + random.randint(0, 10) * 1_000_000_000
            risky = n % 50 == 25
            probed = n % 250 == 25
            text = random.choice(RISK if risky else PLAIN)
            body = json.dumps(payload_for(n, user, text)).encode()
            sent_at[chat_key(user)] = time.perf_counter()
            async with http.post(url, data=body, headers=headers_for(body)) as r:
                if r.status == 200:
                    accepted += 1
            if probed and case_probe is not None:
                probes.append(asyncio.create_task(case_probe(http, user, sent_at[chat_key(user)], case_ms)))

        tasks = []
        for n in range(total):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        deadline = time.perf_counter() + 30
        while len([k for k in sent_at if k in rec.first_reply]) < accepted and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        elapsed = max(rec.first_reply.get(k, 0) for k in sent_at) - start if sent_at else 0.0
        await asyncio.gather(*probes)
    lat = [(rec.first_reply[k] - t) * 1000 for k, t in sent_at.items() if k in rec.first_reply]
    return Result(name, total, accepted, max(elapsed, seconds), lat, case_ms)


def start_process(args: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text()[-3000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise TimeoutError(log.read_text()[-3000:])


async def main(rate: float, seconds: float, store: str, phases: list[str]) -> None:
    rec = Recorder()
    fake = web.Application()
    fake.router.add_route("*", "/bot{token}/{method}", rec.telegram)
    fake.router.add_post("/v25.0/{phone}/messages", rec.graph)
    runner = web.AppRunner(fake, access_log=None)
    await runner.setup()
    fake_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", fake_port).start()
    fake_url = f"http://127.0.0.1:{fake_port}"
    tmp = Path(tempfile.mkdtemp(prefix="caseline-bench-"))
    port = free_port()
    env = {
        **os.environ, "CASELINE_DATA_DIR": str(tmp / "data"), "CASELINE_PORT": str(port), "CASELINE_SECRET_KEY": KEY,
        "CASELINE_STORE": store, "CASELINE_CACHE_DIR": str(Path(tempfile.gettempdir()) / "caseline-test-cache"),
        "CASELINE_TELEGRAM_TOKEN": TOKEN, "CASELINE_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "CASELINE_TELEGRAM_API_BASE": fake_url, "CASELINE_TELEGRAM_GLOBAL_RATE": "100000",
        "CASELINE_WHATSAPP_VERIFY_TOKEN": "v", "CASELINE_WHATSAPP_APP_SECRET": APP_SECRET,
        "CASELINE_WHATSAPP_ACCESS_TOKEN": "t", "CASELINE_WHATSAPP_PHONE_NUMBER_ID": PHONE_ID,
        "CASELINE_WHATSAPP_API_BASE": f"{fake_url}/v25.0", "CASELINE_WHATSAPP_GLOBAL_RATE": "100000",
    }
    subprocess.run([sys.executable, "-m", "caseline.cli", "users", "add", "bench", "--role", "supervisor",
                    "--team", "default", "--password-stdin"], input=b"loadtest-pass-8410-xyz\n", env=env, check=True,
                   cwd=ROOT, capture_output=True)
    base = f"http://127.0.0.1:{port}"
    server = start_process([sys.executable, "-m", "caseline.cli", "serve", "--log-level", "warning"], env, port,
                           tmp / "caseline.log")
    results: list[Result] = []
    try:
        async with aiohttp.ClientSession() as http, http.post(
            base + "/api/v1/auth/login", json={"username": "bench", "password": "loadtest-pass-8410-xyz"}
        ) as r:
            token = (await r.json())["token"]
        auth = {"Authorization": f"Bearer {token}"}

        contact_of: dict[str, str] = {}  # case id -> contact id (the queue list does not show it)

        async def case_probe(http: aiohttp.ClientSession, user: int, t0: float, out: list[float]) -> None:
            cid = "c_" + hmac.new(KEY.encode(), f"telegram\x00{user}".encode(), hashlib.sha256).hexdigest()[:32]
            wa = "c_" + hmac.new(KEY.encode(), f"whatsapp\x004479{user:08d}".encode(), hashlib.sha256).hexdigest()[:32]
            while time.perf_counter() - t0 < 30:
                async with http.get(base + "/api/v1/cases?status=waiting", headers=auth) as r:
                    cases = (await r.json()).get("cases", [])
                for case in cases:
                    if case["id"] not in contact_of:
                        async with http.get(base + f"/api/v1/cases/{case['id']}", headers=auth) as r:
                            contact_of[case["id"]] = (await r.json())["case"]["contact_id"]
                if any(contact_of.get(c["id"]) in (cid, wa) for c in cases):
                    out.append((time.perf_counter() - t0) * 1000)
                    return
                await asyncio.sleep(0.1)  # the probe must not become the load

        def tg_headers(body: bytes) -> dict[str, str]:
            return {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}

        def wa_headers(body: bytes) -> dict[str, str]:
            sig = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
            return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={sig}"}

        await load("warm-up", base + "/webhooks/telegram", tg_headers,
                   lambda n, u, t: telegram_update(900000 + n, u, t), lambda u: f"tg:{u}", rec, 50, 1)
        channels = [
            ("telegram", base + "/webhooks/telegram", tg_headers, telegram_update, lambda u: f"tg:{u}"),
            ("whatsapp", base + "/webhooks/whatsapp", wa_headers, whatsapp_update, lambda u: f"wa:4479{u:08d}"),
        ]
        total = int(rate * seconds)
        for phase in phases:
            for channel, url, headers, payload, key in channels:
                pool: list[int] | None = None
                offset = 0
                if phase == "returning":
                    pool = [30_000_000 + k + random.randint(0, 10) * 1_000_000_000 for k in range(total)]
                    await onboard(url, headers, payload, pool, rec, 2_000_000)
                    offset = 4_000_000  # update and message ids the onboarding did not use

                def shifted(n: int, u: int, t: str, payload: Any = payload, offset: int = offset) -> Any:
                    return payload(offset + n, u, t)
                rec.first_reply.clear()
                rec.first_text.clear()
                results.append(await load(f"caseline {channel} ({phase} contacts)", url, headers, shifted, key,
                                          rec, rate, seconds, case_probe, pool))
                await rec.quiet()
                if pool:  # an onboarded contact must not be asked for a language again
                    menu = sum(1 for t in rec.first_text.values() if LANGUAGE_QUESTION in t)
                    if menu:
                        raise RuntimeError(f"{menu} returning contacts were not onboarded")
    finally:
        server.terminate()
        server.wait()
    bare_port = free_port()
    bare_env = {**os.environ, "BENCH_PORT": str(bare_port), "BENCH_TOKEN": TOKEN, "BENCH_SECRET": SECRET,
                "BENCH_API_BASE": fake_url}
    bare = start_process([sys.executable, str(ROOT / "bench" / "bare_aiogram_echo.py")], bare_env, bare_port,
                         tmp / "bare.log")
    try:
        rec.first_reply.clear()
        rec.first_text.clear()
        results.append(await load("bare aiogram echo", f"http://127.0.0.1:{bare_port}/webhook",
                                  lambda body: {"Content-Type": "application/json",
                                                "X-Telegram-Bot-Api-Secret-Token": SECRET},
                                  lambda n, u, t: telegram_update(500000 + n, u, t), lambda u: f"tg:{u}", rec,
                                  rate, seconds))
    finally:
        bare.terminate()
        bare.wait()
        await runner.cleanup()
    print(f"store: {store}; target rate {rate:.0f}/s for {seconds:.0f}s; 1 in 50 messages is a risk message")
    for result in results:
        print(result.line())
    theirs = results[-1]
    for ours in results[:-1]:
        if "telegram" in ours.name:
            ratio = ours.throughput / max(1e-9, theirs.throughput)
            print(f"throughput ratio Caseline/bare aiogram, {ours.name.removeprefix('caseline ')}: {ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--store", default=os.environ.get("CASELINE_TEST_MONGODB_URI") or "sqlite")
    parser.add_argument("--contacts", choices=["first", "returning", "both"], default="both",
                        help="new contacts only, onboarded contacts only, or both phases (default)")
    args = parser.parse_args()
    chosen = ["first", "returning"] if args.contacts == "both" else [args.contacts]
    asyncio.run(main(args.rate, args.seconds, args.store, chosen))
