"""Accounts and logins: argon2id hashes, password policy, rate limits, lockout, TOTP, sessions.

Only a token's SHA-256 is stored, so reading the store does not let anyone log in.
A failed login counts against the account whether or not it exists, and a locked
account is refused before its password is checked. Before any of that, two sliding
windows (per account, per client address) answer 429 with a Retry-After.

A user with a confirmed second factor (see :mod:`casework.totp`) also needs a code from
their authenticator app, and each time step's code works once; the roles named in
``auth.require_totp_for`` cannot log in at all until they have enrolled one. A session
ends when it is unused for ``auth.idle_minutes``, after ``auth.session_hours``, on
logout, and when the user is disabled, gets a new password or has their sessions revoked.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from caseline.pipeline import Clock
from casework import totp
from casework.access import allowed
from casework.audit import Auditor
from casework.config import CaseworkConfig
from casework.errors import BadInput, CaseworkError, Conflict, Forbidden, NotFound, Unauthorized
from casework.model import ROLES, Session, User
from casework.ports import CaseStore, UserExists
from casework.ratelimit import SlidingWindow

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
TEAM = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MIN_PASSWORD = 12
# OWASP's minimum argon2id parameters: m=19 MiB, t=2, p=1.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
TICKET_SECONDS = 300

# Passwords of 12+ characters that top the breach corpora (compared case- and punctuation-blind).
COMMON_PASSWORDS = frozenset(
    {
        "123456789012", "1234567890123", "12345678901234", "123456123456", "111111111111",
        "000000000000", "123123123123", "qwertyuiopas", "qwertyuiop123", "qwerty123456",
        "1q2w3e4r5t6y", "1qaz2wsx3edc", "zaq12wsxcde3", "asdfghjkl123", "asdfasdfasdf",
        "password1234", "password12345", "password123456", "passwordpassword", "password1password",
        "passw0rd1234", "p4ssw0rd1234", "iloveyou1234", "iloveyouforever", "letmein12345",
        "welcome12345", "welcome123456", "administrator", "administrator1", "admin1234567",
        "adminadminadmin", "changeme1234", "changemenow123", "trustno1trustno1", "monkey123456",
        "dragon123456", "football1234", "baseball1234", "sunshine1234", "princess1234",
        "superman1234", "michael12345", "shadow123456", "master123456", "qwertyqwerty",
        "abcdefghijkl", "abcdefgh1234", "abc123abc123", "abcd1234abcd", "aaaaaaaaaaaa",
        "correcthorsebatterystaple", "thequickbrownfox", "caseline1234", "caselinecaseline",
        "safeguarding1", "safeguarding123", "childprotection", "helpline1234", "summer2024summer",
        "spring2025spring", "winter2025winter", "autumn2025autumn", "januarypassword",
    }
)


def _plain(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password(password: object, username: str = "") -> str:
    """The password if it meets the policy (12-1024 characters, not common, not the username)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD or len(password) > 1024:
        raise BadInput(f"password must be a string of {MIN_PASSWORD}-1024 characters")
    plain = _plain(password)
    if plain in COMMON_PASSWORDS or password.lower() in COMMON_PASSWORDS or len(set(password)) < 4:
        raise BadInput("that password is too common or too simple; choose another")
    name = _plain(username)
    if username and (username.lower() in password.lower() or (len(name) >= 3 and name in plain)):
        raise BadInput("the password must not contain the username")
    return password


def check_new_user(username: object, role: object, teams: object) -> tuple[str, str, tuple[str, ...]]:
    if not isinstance(username, str) or not USERNAME.match(username):
        raise BadInput("username must be 2-63 characters of a-z, 0-9, '.', '_' or '-'")
    if role not in ROLES:
        raise BadInput(f"role must be one of {', '.join(ROLES)}")
    if not isinstance(teams, list) or not all(isinstance(t, str) and TEAM.match(t) for t in teams):
        raise BadInput("teams must be a list of team names")
    if role != "admin" and not teams:
        raise BadInput("a case role needs at least one team")
    return username, str(role), tuple(dict.fromkeys(teams))


class TooManyAttempts(CaseworkError):
    """429: a login rate limit is reached; ``retry_after`` seconds until the next try counts."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many login attempts; try again later")
        self.retry_after = retry_after
        self.extra: dict[str, Any] = {"retry_after": retry_after}


class SecondFactorNeeded(Unauthorized):
    """The password was right; a code from the authenticator app is needed too."""

    def __init__(self, user: User) -> None:
        super().__init__("enter the 6-digit code from your authenticator app")
        self.user = user
        self.extra: dict[str, Any] = {"totp_required": True}


class EnrolmentNeeded(Forbidden):
    """The password was right, but the role needs a second factor and none is set up yet."""

    def __init__(self, user: User) -> None:
        super().__init__("your role needs two-step login: set up an authenticator app first")
        self.user = user
        self.extra: dict[str, Any] = {"totp_enrol_required": True}


@dataclass(frozen=True)
class Enrolment:
    """A new, unconfirmed second factor; the secret is shown to its owner once and never again."""

    secret: str
    uri: str


class Accounts:
    def __init__(
        self, store: CaseStore, config: CaseworkConfig, auditor: Auditor, clock: Clock, secret_key: str = ""
    ) -> None:
        self.store = store
        self.config = config
        self.audit = auditor
        self.clock = clock
        self._dummy = HASHER.hash(secrets.token_hex(16))
        window = config.login_window.total_seconds()
        self.per_account = SlidingWindow(config.logins_per_account, window)
        self.per_address = SlidingWindow(config.logins_per_address, window)
        self._box: totp.SecretBox | None = None
        self._ticket_key = b""
        if secret_key:
            self.bind_secret(secret_key)

    def bind_secret(self, secret_key: str) -> None:
        """Key the TOTP secret sealing and the second-step tickets from the service secret."""
        self._box = totp.SecretBox(secret_key)
        self._ticket_key = hashlib.sha256(b"caseline/login-ticket/v1\x00" + secret_key.encode()).digest()

    @property
    def box(self) -> totp.SecretBox:
        if self._box is None:
            raise RuntimeError("Accounts.bind_secret was not called: no key to seal TOTP secrets")
        return self._box

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(HASHER.hash, password)

    async def _verify(self, hashed: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(HASHER.verify, hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    # -- logging in ------------------------------------------------------------------------
    async def _throttle(self, username: str, address: str) -> None:
        now = self.clock().timestamp()
        waits = [self.per_account.hit(username.lower(), now)]
        if address:
            waits.append(self.per_address.hit(address, now))
        wait = max((w for w in waits if w is not None), default=None)
        if wait is not None:
            await self.audit.record(username, "login", username, "failed", reason="rate limited")
            raise TooManyAttempts(wait)

    async def _password(self, username: str, password: str, address: str) -> User:
        """The user if the password is right (throttled, counted, audited); else Unauthorized."""
        username = username[:64]
        await self._throttle(username, address)
        now = self.clock()
        user = await self.store.get_user(username)
        refused = "invalid username or password"
        if user is None or user.disabled:
            await self._verify(self._dummy, password)
            await self.audit.record(username, "login", username, "failed", reason="unknown or disabled")
            raise Unauthorized(refused)
        if user.locked_until is not None and user.locked_until > now:
            await self.audit.record(username, "login", username, "failed", reason="locked")
            raise Unauthorized("too many failed logins; try again later")
        if not await self._verify(user.password_hash, password):
            await self._failed(user, "bad password")
            raise Unauthorized(refused)
        return user

    async def _failed(self, user: User, reason: str) -> None:
        now = self.clock()
        await self.store.failed_login(user.username, now, self.config.max_failed_logins, now + self.config.lockout)
        await self.audit.record(user.username, "login", user.username, "failed", reason=reason)

    async def _second_factor(self, user: User, code: object) -> None:
        """Pass if no code is needed or ``code`` is a fresh one; confirms a pending enrolment."""
        record = await self.store.get_totp(user.username)
        pending = record is not None and not record.confirmed
        if record is None or (pending and not code):
            if user.role in self.config.require_totp_for:
                await self.audit.record(user.username, "login", user.username, "failed", reason="no second factor")
                raise EnrolmentNeeded(user)
            return
        if not code:
            raise SecondFactorNeeded(user)
        secret = self.box.open(user.username, record.sealed)
        step = None if secret is None else totp.verify(secret, code, self.clock().timestamp())
        if step is None:
            await self._failed(user, "bad code")
            raise Unauthorized("wrong code")
        if not await self.store.use_totp_step(user.username, step, confirm=pending):
            await self._failed(user, "replayed code")
            raise Unauthorized("that code was already used; wait for the next one")
        if pending:
            await self.audit.record(user.username, "totp.confirm", user.username)

    async def _open_session(self, user: User, kind: Literal["cookie", "bearer"]) -> tuple[str, Session]:
        now = self.clock()
        await self.store.update_user(user.username, failed_logins=0, locked_until=None, last_seen_at=now)
        token = secrets.token_urlsafe(32)
        session = Session(
            token_hash(token),
            user.username,
            secrets.token_urlsafe(24),
            kind,
            now,
            now + self.config.session_lifetime,
        )
        await self.store.add_session(session)
        await self.audit.record(user.username, "login", user.username, kind=kind)
        return token, session

    async def login(
        self,
        username: str,
        password: str,
        kind: Literal["cookie", "bearer"],
        code: object = None,
        address: str = "",
    ) -> tuple[str, Session]:
        """Password, then (if the user has one) second factor, then a new session.

        Raises :class:`TooManyAttempts`, :class:`Unauthorized` (its subclass
        :class:`SecondFactorNeeded` when only the code is missing) or
        :class:`EnrolmentNeeded`.
        """
        user = await self._password(username, password, address)
        await self._second_factor(user, code)
        return await self._open_session(user, kind)

    # -- the console's second step: a signed, short-lived ticket stands for the password ----
    def _ticket_mac(self, username: str, expires: int, password_hash: str) -> str:
        message = f"{username}|{expires}|{hashlib.sha256(password_hash.encode()).hexdigest()}".encode()
        digest = hmac.new(self._ticket_key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def ticket(self, user: User) -> str:
        """Proof, for five minutes, that ``user`` gave the right password (void once it changes)."""
        if not self._ticket_key:
            raise RuntimeError("Accounts.bind_secret was not called")
        expires = int(self.clock().timestamp()) + TICKET_SECONDS
        return f"{user.username}:{expires}:{self._ticket_mac(user.username, expires, user.password_hash)}"

    async def login_with_ticket(
        self, ticket: str, code: object, kind: Literal["cookie", "bearer"], address: str = ""
    ) -> tuple[str, Session]:
        refused = Unauthorized("that login has expired; start again")
        parts = ticket.rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit() or not self._ticket_key:
            raise refused
        username, expires = parts[0][:64], int(parts[1])
        await self._throttle(username, address)
        user = await self.store.get_user(username)
        if (
            user is None
            or user.disabled
            or expires < self.clock().timestamp()
            or not hmac.compare_digest(parts[2], self._ticket_mac(username, expires, user.password_hash))
        ):
            await self.audit.record(username, "login", username, "failed", reason="bad or expired ticket")
            raise refused
        if user.locked_until is not None and user.locked_until > self.clock():
            await self.audit.record(username, "login", username, "failed", reason="locked")
            raise Unauthorized("too many failed logins; try again later")
        await self._second_factor(user, code or None)
        return await self._open_session(user, kind)

    # -- second factor enrolment ----------------------------------------------------------
    async def begin_enrolment(self, user: User) -> Enrolment:
        """A fresh secret, stored sealed and unconfirmed; the first good code at login confirms it."""
        record = await self.store.get_totp(user.username)
        if record is not None and record.confirmed:
            await self.audit.record(user.username, "totp.enrol", user.username, "denied", reason="already set up")
            raise Conflict("a second factor is already set up; an admin can reset it")
        secret = totp.new_secret()
        await self.store.set_totp(user.username, self.box.seal(user.username, secret))
        await self.audit.record(user.username, "totp.enrol", user.username)
        return Enrolment(secret, totp.provisioning_uri(secret, user.username))

    async def enrol(self, username: str, password: str, address: str = "") -> Enrolment:
        """API enrolment: the password proves who is asking (no session needed, so required roles can)."""
        return await self.begin_enrolment(await self._password(username, password, address))

    async def has_second_factor(self, username: str) -> bool:
        record = await self.store.get_totp(username)
        return record is not None and record.confirmed

    # -- sessions -----------------------------------------------------------------------
    async def authenticate(self, token: str) -> tuple[User, Session] | None:
        """The session's user, or None (audited when a token was sent but is no good)."""
        hashed = token_hash(token)
        session = await self.store.get_session(hashed)
        now = self.clock()
        if session is None:
            await self.audit.record("-", "session", "", "denied", reason="unknown, expired or revoked token")
            return None
        reason = ""
        if session.expires_at <= now:
            reason = "expired"
        elif not await self.store.touch_session(hashed, now, now - self.config.session_idle):
            reason = "idle"
        user = await self.store.get_user(session.username)
        if not reason and (user is None or user.disabled):
            reason = "disabled"
        if reason or user is None:
            await self.store.delete_sessions(token_hash=hashed)
            await self.audit.record(session.username, "session", session.username, "denied", reason=reason)
            return None
        return user, session

    async def logout(self, user: User, token: str) -> None:
        await self.store.delete_sessions(token_hash=token_hash(token))
        await self.audit.record(user.username, "logout", user.username)

    async def _admin(self, actor: User, action: str, target: str) -> None:
        if not allowed(actor, "users.manage"):
            await self.audit.record(actor.username, action, target, "denied")
            raise Forbidden("only an admin can manage accounts")

    async def create(
        self, actor: str, username: object, role: object, teams: object, password: object
    ) -> User:
        name, role_, teams_ = check_new_user(username, role, teams)
        user = User(name, role_, teams_, await self.hash(check_password(password, name)), created_at=self.clock())
        try:
            await self.store.add_user(user)
        except UserExists:
            raise Conflict(f"user {name} exists") from None
        await self.audit.record(actor, "user.add", name, role=role_, teams=list(teams_))
        return user

    async def add(self, actor: User, username: object, role: object, teams: object, password: object) -> User:
        await self._admin(actor, "user.add", str(username)[:64])
        return await self.create(actor.username, username, role, teams, password)

    async def list(self, actor: User) -> list[User]:
        await self._admin(actor, "user.list", "")
        return await self.store.list_users()

    async def set_disabled(self, actor: User, username: str, disabled: bool) -> None:
        action = "user.disable" if disabled else "user.enable"
        await self._admin(actor, action, username)
        await self.change(actor.username, action, username, disabled=disabled)

    async def reset_password(self, actor: User, username: str, password: object) -> None:
        await self._admin(actor, "user.reset_password", username)
        hashed = await self.hash(check_password(password, username))
        await self.change(
            actor.username,
            "user.reset_password",
            username,
            password_hash=hashed,
            failed_logins=0,
            locked_until=None,
        )

    async def change(self, actor: str, action: str, username: str, **fields: object) -> None:
        """Apply an account change (also used by the CLI) and end the user's sessions."""
        if not await self.store.update_user(username, **fields):
            raise NotFound(f"no user {username}")
        await self.store.delete_sessions(username=username)
        await self.audit.record(actor, action, username)

    async def revoke_sessions(self, actor: User, username: str) -> None:
        """End every session of ``username`` (a lost laptop, a suspected leak)."""
        await self._admin(actor, "user.revoke_sessions", username)
        if await self.store.get_user(username) is None:
            raise NotFound(f"no user {username}")
        await self.store.delete_sessions(username=username)
        await self.audit.record(actor.username, "user.revoke_sessions", username)

    async def reset_second_factor(self, actor: User, username: str) -> None:
        """Remove the user's authenticator (a lost phone); they enrol again at their next login."""
        await self._admin(actor, "user.reset_totp", username)
        if await self.store.get_user(username) is None:
            raise NotFound(f"no user {username}")
        await self.store.set_totp(username, None)
        await self.store.delete_sessions(username=username)
        await self.audit.record(actor.username, "user.reset_totp", username)
