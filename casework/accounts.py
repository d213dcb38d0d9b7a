"""Accounts and logins: argon2id hashes, lockout, opaque session tokens, user administration.

Only a token's SHA-256 is stored, so reading the store does not let anyone log in.
A failed login counts against the account whether or not it exists, and a locked
account is refused before its password is checked.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from caseline.pipeline import Clock
from casework.access import allowed
from casework.audit import Auditor
from casework.config import CaseworkConfig
from casework.errors import BadInput, Conflict, Forbidden, NotFound, Unauthorized
from casework.model import ROLES, Session, User
from casework.ports import CaseStore, UserExists

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
TEAM = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MIN_PASSWORD = 12
# OWASP's minimum argon2id parameters: m=19 MiB, t=2, p=1.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD or len(password) > 1024:
        raise BadInput(f"password must be a string of {MIN_PASSWORD}-1024 characters")
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


class Accounts:
    def __init__(self, store: CaseStore, config: CaseworkConfig, auditor: Auditor, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.audit = auditor
        self.clock = clock
        self._dummy = HASHER.hash(secrets.token_hex(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(HASHER.hash, password)

    async def _verify(self, hashed: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(HASHER.verify, hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    async def login(
        self, username: str, password: str, kind: Literal["cookie", "bearer"]
    ) -> tuple[str, Session]:
        now = self.clock()
        user = await self.store.get_user(username)
        refused = "invalid username or password"
        if user is None or user.disabled:
            await self._verify(self._dummy, password)
            await self.audit.record(
                username[:64], "login", username[:64], "failed", reason="unknown or disabled"
            )
            raise Unauthorized(refused)
        if user.locked_until is not None and user.locked_until > now:
            await self.audit.record(username, "login", username, "failed", reason="locked")
            raise Unauthorized("too many failed logins; try again later")
        if not await self._verify(user.password_hash, password):
            await self.store.failed_login(
                username, now, self.config.max_failed_logins, now + self.config.lockout
            )
            await self.audit.record(username, "login", username, "failed", reason="bad password")
            raise Unauthorized(refused)
        await self.store.update_user(username, failed_logins=0, locked_until=None, last_seen_at=now)
        token = secrets.token_urlsafe(32)
        session = Session(
            token_hash(token),
            username,
            secrets.token_urlsafe(24),
            kind,
            now,
            now + self.config.session_lifetime,
        )
        await self.store.add_session(session)
        await self.audit.record(username, "login", username, kind=kind)
        return token, session

    async def authenticate(self, token: str) -> tuple[User, Session] | None:
        session = await self.store.get_session(token_hash(token))
        if session is None or session.expires_at <= self.clock():
            return None
        user = await self.store.get_user(session.username)
        if user is None or user.disabled:
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
        user = User(name, role_, teams_, await self.hash(check_password(password)), created_at=self.clock())
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
        hashed = await self.hash(check_password(password))
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
