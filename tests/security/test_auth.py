"""Logins: TOTP (RFC 6238), password policy, rate limits, session expiry and revocation."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest

from casework import totp
from casework.accounts import check_password
from casework.errors import BadInput
from casework.model import AuditQuery
from casework.ratelimit import SlidingWindow
from tests.casework.harness import PASSWORD, add_user
from tests.security.conftest import World, WorldFactory

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize(
    ("at", "code"), [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")]
)
def test_totp_matches_the_rfc_6238_vectors(at: int, code: str) -> None:
    assert totp.code_at(RFC_SECRET, totp.step_of(at)) == code
    assert totp.verify(RFC_SECRET, code, at) == totp.step_of(at)


def test_totp_window_is_one_step_either_side() -> None:
    now = 1_700_000_000.0
    step = totp.step_of(now)
    for offset in (-1, 0, 1):
        assert totp.verify(RFC_SECRET, totp.code_at(RFC_SECRET, step + offset), now) == step + offset
    for offset in (-2, 2):
        assert totp.verify(RFC_SECRET, totp.code_at(RFC_SECRET, step + offset), now) is None
    for bad in ("", "12345", "1234567", "abcdef", None, 123456, "١٢٣٤٥٦"):
        assert totp.verify(RFC_SECRET, bad, now) is None


def test_totp_secret_is_sealed_and_bound_to_the_user() -> None:
    box = totp.SecretBox("k" * 40)
    sealed = box.seal("ana", RFC_SECRET)
    assert RFC_SECRET not in sealed and box.open("ana", sealed) == RFC_SECRET
    assert box.open("bob", sealed) is None
    assert totp.SecretBox("x" * 40).open("ana", sealed) is None
    uri = totp.provisioning_uri(RFC_SECRET, "ana")
    assert uri.startswith("otpauth://totp/Caseline:ana?") and f"secret={RFC_SECRET}" in uri


def test_sliding_window() -> None:
    window = SlidingWindow(3, 60)
    assert [window.hit("a", t) for t in (0, 1, 2)] == [None, None, None]
    assert window.hit("a", 30) == 30
    assert window.hit("b", 30) is None
    assert window.hit("a", 60.5) is None


@pytest.mark.parametrize(
    "password",
    [
        "short",
        "x" * 11,
        "password1234",
        "Password-1234",
        "correct horse battery staple",
        "aaaaaaaaaaaaaaa",
        "my name is ana.smith ok",
        "ANA.SMITH-is-here-2025",
        12345678901234,
        None,
    ],
)
def test_password_policy_refuses(password: object) -> None:
    with pytest.raises(BadInput):
        check_password(password, "ana.smith")


def test_password_policy_accepts_a_passphrase() -> None:
    assert check_password("violet kettle morning rain", "ana.smith")


async def test_policy_applies_on_add_and_reset(world: World) -> None:
    await add_user(world.services, "root", "admin", [])
    admin = await world.login("root")
    for password, name in (("password1234", "newbie"), ("tiny", "newbie"), ("newbie-at-home-now", "newbie")):
        body = {"username": name, "role": "case_worker", "teams": ["default"], "password": password}
        resp = await world.client.post("/api/v1/users", json=body, headers=admin)
        assert resp.status == 400, password
    for password in ("password1234", "tiny", "i-am-Root-here-ok"):
        resp = await world.client.post("/api/v1/users/root/password", json={"password": password}, headers=admin)
        assert resp.status == 400, password
    assert [u.username for u in await world.cw.store.list_users()] == ["root"]


async def test_required_role_must_enrol_then_use_codes_once(strict_world: World) -> None:
    w = strict_world
    await add_user(w.services, "sup", "supervisor", ["default"])
    resp = await w.client.post("/api/v1/auth/login", json={"username": "sup", "password": PASSWORD})
    assert resp.status == 403 and (await resp.json())["totp_enrol_required"] is True
    bad = await w.client.post("/api/v1/auth/totp/enrol", json={"username": "sup", "password": "wrong password"})
    assert bad.status == 401
    secret = await w.enrol("sup")
    record = await w.cw.store.get_totp("sup")
    assert record is not None and secret not in record.sealed and not record.confirmed
    # the first good code confirms the enrolment and logs in
    code = w.code(secret)
    await w.login("sup", code=code)
    assert (await w.cw.store.get_totp("sup")).confirmed  # type: ignore[union-attr]
    # now a code is needed, and the same code is refused (replay within its window)
    resp = await w.client.post("/api/v1/auth/login", json={"username": "sup", "password": PASSWORD})
    assert resp.status == 401 and (await resp.json())["totp_required"] is True
    replay = await w.client.post("/api/v1/auth/login", json={"username": "sup", "password": PASSWORD, "totp": code})
    assert replay.status == 401 and "already used" in (await replay.json())["error"]
    # an older step's code is refused too, once a later one was used
    w.clock.advance(seconds=30)
    await w.login("sup", code=w.code(secret))
    assert (
        await w.client.post(
            "/api/v1/auth/login", json={"username": "sup", "password": PASSWORD, "totp": w.code(secret, -1)}
        )
    ).status == 401
    wrong = await w.client.post("/api/v1/auth/login", json={"username": "sup", "password": PASSWORD, "totp": "000000"})
    assert wrong.status == 401
    # enrolling again is refused; an admin reset allows it
    assert (
        await w.client.post("/api/v1/auth/totp/enrol", json={"username": "sup", "password": PASSWORD})
    ).status == 409
    failed = await w.cw.store.query_audit(AuditQuery(actor="sup", action="login", outcome="failed"))
    assert {e.detail["reason"] for e in failed} >= {"no second factor", "replayed code", "bad code", "bad password"}
    dump = json.dumps([e.to_json() for e in await w.cw.store.query_audit(AuditQuery(limit=1000))])
    assert secret not in dump and code not in dump


async def test_optional_second_factor_for_case_workers(strict_world: World) -> None:
    w = strict_world
    await add_user(w.services, "ana", "case_worker", ["default"])
    await w.login("ana")  # not required for the role
    secret = await w.enrol("ana")
    await w.login("ana")  # still pending: a password alone works until a code confirms it
    await w.login("ana", code=w.code(secret))
    resp = await w.client.post("/api/v1/auth/login", json={"username": "ana", "password": PASSWORD})
    assert resp.status == 401


async def test_admin_resets_a_lost_second_factor(strict_world: World) -> None:
    w = strict_world
    await add_user(w.services, "root", "admin", [])
    await add_user(w.services, "sup", "supervisor", ["default"])
    root_secret = await w.enrol("root")
    admin = await w.login("root", code=w.code(root_secret))
    secret = await w.enrol("sup")
    sup = await w.login("sup", code=w.code(secret))
    assert (await w.client.delete("/api/v1/users/sup/totp", headers=admin)).status == 200
    assert (await w.client.get("/api/v1/cases", headers=sup)).status == 401, "a reset ends the sessions"
    assert await w.cw.store.get_totp("sup") is None
    assert (await w.client.delete("/api/v1/users/nobody/totp", headers=admin)).status == 404


async def test_console_two_step_login(strict_world: World) -> None:
    w = strict_world
    await add_user(w.services, "sup", "supervisor", ["default"])
    resp = await w.client.post("/console/login", data={"username": "sup", "password": PASSWORD})
    page = await resp.text()
    assert resp.status == 200 and "Set up two-step login" in page
    secret = re.search(r"secret=([A-Z2-7]+)", page).group(1)  # type: ignore[union-attr]
    ticket = re.search(r'name="ticket" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert "sup" not in w.client.session.cookie_jar.filter_cookies(w.client.make_url("/")).get("caseline_console", "")
    # a forged or tampered ticket is refused
    forged = ticket[:-4] + ("AAAA" if not ticket.endswith("AAAA") else "BBBB")
    resp = await w.client.post("/console/login/totp", data={"ticket": forged, "totp": w.code(secret)})
    assert resp.status == 401 and resp.url.path == "/console/login/totp"
    resp = await w.client.post("/console/login/totp", data={"ticket": ticket, "totp": "000000"})
    assert resp.status == 401 and 'name="ticket"' in await resp.text()
    resp = await w.client.post("/console/login/totp", data={"ticket": ticket, "totp": w.code(secret)})
    assert resp.status == 200 and resp.url.path == "/console/queue"
    # next time: password, then the code page
    w.clock.advance(seconds=30)
    csrf = re.search(r'csrf-token" content="([^"]+)', await resp.text())
    assert csrf is not None
    await w.client.post("/console/logout", data={"csrf": csrf.group(1)})
    resp = await w.client.post("/console/login", data={"username": "sup", "password": PASSWORD})
    page = await resp.text()
    assert "Code from your authenticator app" in page and "secret=" not in page
    ticket = re.search(r'name="ticket" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    w.clock.advance(seconds=301)
    resp = await w.client.post("/console/login/totp", data={"ticket": ticket, "totp": w.code(secret)})
    assert resp.status == 401 and "expired" in await resp.text()


async def test_console_account_page_enrols(world: World) -> None:
    await add_user(world.services, "ana", "case_worker", ["default"])
    csrf = await world.console_login("ana")
    page = await (await world.client.get("/console/account")).text()
    assert "Two-step login is off" in page
    assert (await world.client.post("/console/account/totp", data={})).status == 403
    resp = await world.client.post("/console/account/totp", data={"csrf": csrf})
    assert resp.status == 200 and "otpauth://totp/Caseline:ana" in await resp.text()


async def test_login_rate_limits_answer_429_with_retry_after(make_world: WorldFactory) -> None:
    w = await make_world("sqlite", "auth:\n  logins_per_account: 3\n  logins_per_address: 5\n  max_failed_logins: 50\n")
    await add_user(w.services, "ana", "case_worker", ["default"])
    for _ in range(3):
        assert (await w.client.post("/api/v1/auth/login", json={"username": "ana", "password": "x" * 12})).status == 401
    resp = await w.client.post("/api/v1/auth/login", json={"username": "ana", "password": PASSWORD})
    assert resp.status == 429 and 0 < int(resp.headers["Retry-After"]) <= 300
    # per address: other accounts from the same address
    for name in ("bob",):  # the 429 above counted against the address too: this is its 5th
        assert (await w.client.post("/api/v1/auth/login", json={"username": name, "password": "x" * 12})).status == 401
    resp = await w.client.post("/console/login", data={"username": "dee", "password": "x" * 12})
    assert resp.status == 429 and "Retry-After" in resp.headers
    w.clock.advance(minutes=5, seconds=1)
    await w.login("ana")
    limited = await w.cw.store.query_audit(AuditQuery(action="login", outcome="failed"))
    assert any(e.detail.get("reason") == "rate limited" for e in limited)


async def test_sessions_expire_when_idle_and_absolutely(world: World) -> None:
    await add_user(world.services, "ana", "case_worker", ["default"])
    headers = await world.login("ana")
    world.clock.advance(minutes=29)
    assert (await world.client.get("/api/v1/cases", headers=headers)).status == 200
    world.clock.advance(minutes=31)
    assert (await world.client.get("/api/v1/cases", headers=headers)).status == 401
    headers = await world.login("ana")
    start = world.clock.now
    for _ in range(40):  # active all day: the absolute limit (10 h) still ends it
        world.clock.advance(minutes=15)
        status = (await world.client.get("/api/v1/cases", headers=headers)).status
        if status == 401:
            break
    assert status == 401 and world.clock.now - start == timedelta(hours=10)
    denied = await world.cw.store.query_audit(AuditQuery(action="session", outcome="denied"))
    assert {e.detail["reason"] for e in denied} >= {"idle", "expired"}


async def test_revocation(world: World) -> None:
    await add_user(world.services, "root", "admin", [])
    await add_user(world.services, "ana", "case_worker", ["default"])
    admin = await world.login("root")
    # logout
    ana = await world.login("ana")
    assert (await world.client.post("/api/v1/auth/logout", headers=ana)).status == 200
    assert (await world.client.get("/api/v1/cases", headers=ana)).status == 401
    # admin revokes every session of a user
    ana, ana2 = await world.login("ana"), await world.login("ana")
    assert (await world.client.delete("/api/v1/users/ana/sessions", headers=ana)).status == 403
    assert (await world.client.delete("/api/v1/users/ana/sessions", headers=admin)).status == 200
    for h in (ana, ana2):
        assert (await world.client.get("/api/v1/cases", headers=h)).status == 401
    assert (await world.client.delete("/api/v1/users/nobody/sessions", headers=admin)).status == 404
    # resetting the password, and disabling, end the sessions
    ana = await world.login("ana")
    new = "violet kettle morning rain"
    assert (await world.client.post("/api/v1/users/ana/password", json={"password": new}, headers=admin)).status == 200
    assert (await world.client.get("/api/v1/cases", headers=ana)).status == 401
    ana = await world.login("ana", new)
    assert (await world.client.post("/api/v1/users/ana/disable", headers=admin)).status == 200
    assert (await world.client.get("/api/v1/cases", headers=ana)).status == 401
    actions = {e.action for e in await world.cw.store.query_audit(AuditQuery(actor="root"))}
    assert {"user.revoke_sessions", "user.reset_password", "user.disable"} <= actions
