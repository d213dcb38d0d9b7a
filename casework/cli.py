"""``caseline users ...``: manage console accounts from a shell, and the demo's login.

Passwords come from a prompt or standard input, never from an argument, so they do not
end up in shell history or the process list. Every change is audited as ``cli``.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

from caseline.settings import SettingsError, load_settings
from caseline.store.factory import open_backend
from casework.core import Casework, build_casework
from casework.errors import CaseworkError
from casework.model import ROLES

if TYPE_CHECKING:
    from caseline.app import Services

T = TypeVar("T")
DEMO_USER = "demo-supervisor"


def _run(action: Callable[[Casework], Awaitable[T]]) -> T:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc

    async def go() -> T:
        backend = open_backend(settings)
        if backend.sqlite is not None:
            await backend.sqlite.open()
        casework = build_casework(settings, backend, conversations=None)  # type: ignore[arg-type]
        try:
            await casework.store.open()
            return await action(casework)
        finally:
            if backend.sqlite is not None:
                await backend.sqlite.close()
            if backend.close_mongo is not None:
                await backend.close_mongo()

    try:
        return asyncio.run(go())
    except CaseworkError as exc:
        raise click.ClickException(exc.reason) from exc


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group("users")
def users_group() -> None:
    """Manage case-worker console accounts."""


@users_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--team", "teams", multiple=True, help="A team the user works for (repeatable).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def add(username: str, role: str, teams: tuple[str, ...], password_stdin: bool) -> None:
    """Create an account."""
    password = _password(password_stdin)
    _run(lambda cw: cw.accounts.create("cli", username, role, list(teams), password))
    click.echo(f"added {username} ({role})")


@users_group.command("list")
def list_users() -> None:
    """List accounts (no password hashes)."""
    for user in _run(lambda cw: cw.store.list_users()):
        state = "disabled" if user.disabled else "active"
        click.echo(f"{user.username}\t{user.role}\t{','.join(user.teams) or '-'}\t{state}")


@users_group.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Disable an account and end its sessions."""
    _run(lambda cw: cw.accounts.change("cli", "user.disable", username, disabled=True))
    click.echo(f"disabled {username}")


@users_group.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def reset_password(username: str, password_stdin: bool) -> None:
    """Set a new password, unlock the account and end its sessions."""
    password = _password(password_stdin)

    async def reset(cw: Casework) -> None:
        from casework.accounts import check_password

        hashed = await cw.accounts.hash(check_password(password))
        await cw.accounts.change(
            "cli", "user.reset_password", username, password_hash=hashed, failed_logins=0, locked_until=None
        )

    _run(reset)
    click.echo(f"password reset for {username}")


async def seed_demo_user(services: Services) -> tuple[str, str]:
    """Create (once) a demo supervisor with a random password kept in the data directory."""
    gateway = services.pipeline.cases
    casework: Casework = gateway.casework  # type: ignore[attr-defined]
    path = services.settings.data_dir / "demo-supervisor.password"
    user = await casework.store.get_user(DEMO_USER)
    if user is not None and path.exists():
        return DEMO_USER, path.read_text(encoding="utf-8").strip()
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password, encoding="utf-8")
    path.chmod(0o600)
    teams = list(casework.config.teams)
    if user is None:
        await casework.accounts.create("demo", DEMO_USER, "supervisor", teams, password)
    else:
        await casework.accounts.change(
            "demo", "user.reset_password", DEMO_USER, password_hash=await casework.accounts.hash(password)
        )
    return DEMO_USER, password
