"""``caseline keys``, ``caseline retention`` and ``caseline erase``: privacy operations.

These run against the same store as the server (safe to run while it serves): key
rotation re-wraps data keys in small batches and can be re-run to resume; retention and
erasure print counts only, never content. Register with :func:`privacy_commands`.

Rotation never re-encrypts data that is already sealed: every sealed field, in the
conversation, case and probation stores alike, is under its contact's data key, and
re-wrapping that key under the new master key is what moves it. What rotation does
rewrite is the case and probation text written before those stores sealed anything: it
seals it, in batches that each commit on their own, so an interrupted run resumes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import click

from caseline.crypto import FieldCipher
from caseline.erasure import OpenCaseCheck, erase_contact
from caseline.keyring import KeyringError, add_active_key, keyring_for, retire_key
from caseline.retention import RetentionPolicy, sweep
from caseline.settings import Settings, SettingsError, load_settings
from caseline.store.base import ConversationStore, StoreError
from caseline.store.factory import Backend, conversation_store, open_backend, with_cipher
from casework.core import case_store
from casework.probation.wiring import probation_store

T = TypeVar("T")
# Given the settings and the open backend, how to ask the case store about open cases.
OpenCaseLookup = Callable[[Settings, Backend], OpenCaseCheck]


class PlainSealer(Protocol):
    """A store that can seal, in batches, the text it held before encryption was on."""

    async def seal_plain(self, limit: int = 500) -> int: ...


async def rotate(
    store: ConversationStore, sealers: Sequence[PlainSealer], cipher: FieldCipher, *, batch: int = 500,
    new_key: bool | None = None, echo: Callable[[str], None] = click.echo,
) -> None:
    """``caseline keys rotate``: a new master key (unless resuming), every data key re-wrapped
    under it, then the old plain text of ``sealers`` sealed; every step batched and resumable."""
    counts = await store.key_counts()
    pending = sum(n for kid, n in counts.items() if kid != cipher.keyring.active)
    if new_key or (new_key is None and pending == 0):
        cipher.keyring = add_active_key(cipher.keyring)
        echo(f"new active master key {cipher.keyring.active} added to {cipher.keyring.source}")
        pending = sum(counts.values())
    else:
        echo(f"resuming: re-wrapping under {cipher.keyring.active}")
    done = 0
    while (n := await store.rewrap_keys(batch)) > 0:
        done += n
        echo(f"  re-wrapped {done}/{pending}")
    sealed = 0
    for sealer in sealers:
        while (n := await sealer.seal_plain(batch)) > 0:
            sealed += n
            echo(f"  sealed {sealed} case and probation rows written before encryption")
    echo(f"done: every data key is wrapped by {cipher.keyring.active}."
         " Old master keys can be retired with `caseline keys retire KID`"
         " once backups of the key store made before now have expired.")


def policy_for(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(
        conversation_days=int(getattr(settings, "retention_conversation_days", 30)),
        inbound_days=int(getattr(settings, "retention_inbound_days", 8)),
        sent_outbox_days=int(getattr(settings, "retention_sent_outbox_days", 30)),
    )


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@asynccontextmanager
async def _opened(settings: Settings, cipher: FieldCipher | None) -> AsyncIterator[tuple[ConversationStore, Backend]]:
    backend = with_cipher(open_backend(settings), cipher)
    store = conversation_store(backend)
    await store.open()
    try:
        yield store, backend
    finally:
        await store.close()


def _run(coro: Awaitable[T]) -> T:
    async def go() -> T:
        return await coro

    try:
        return asyncio.run(go())
    except (KeyringError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc


def _cipher(settings: Settings) -> FieldCipher:
    ring = keyring_for(settings)
    if ring is None:
        raise click.ClickException("encryption at rest is switched off (encrypt_at_rest: false)")
    return FieldCipher(ring)


def privacy_commands(open_case_lookup: OpenCaseLookup | None = None) -> list[click.Command]:
    """The command groups to add to the ``caseline`` CLI; ``open_case_lookup`` protects open cases."""

    @click.group("keys")
    def keys_group() -> None:
        """Master keys for encryption at rest."""

    @keys_group.command("status")
    def keys_status() -> None:
        """Show the keyring and how many data keys each master key wraps."""
        settings = _settings()
        cipher = _cipher(settings)
        ring = cipher.keyring

        async def go() -> dict[str, int]:
            async with _opened(settings, cipher) as (store, _backend):
                return await store.key_counts()

        counts = _run(go())
        click.echo(f"keyring: {ring.source}; active key: {ring.active}")
        for kid in sorted(set(ring.keys) | set(counts)):
            marks = [m for m, on in (("active", kid == ring.active), ("MISSING from keyring", kid not in ring.keys),
                                     ("unused: can be retired", kid not in counts and kid != ring.active)) if on]
            click.echo(f"  {kid}: {counts.get(kid, 0)} data keys" + (f" ({', '.join(marks)})" if marks else ""))
        stale = sum(n for kid, n in counts.items() if kid != ring.active)
        if stale:
            click.echo(f"{stale} data keys are not under the active key: run `caseline keys rotate` to finish.")

    @keys_group.command("rotate")
    @click.option("--batch", default=500, show_default=True, help="Data keys re-wrapped (rows sealed) per transaction.")
    @click.option("--new-key/--resume", default=None,
                  help="Force adding a new master key, or only finish an interrupted rotation.")
    def keys_rotate(batch: int, new_key: bool | None) -> None:
        """Add a new active master key, re-wrap every data key under it, seal old case and
        probation text (resumable)."""
        settings = _settings()
        cipher = _cipher(settings)

        async def go() -> None:
            async with _opened(settings, cipher) as (store, backend):
                cases, probation = case_store(backend), probation_store(backend)
                await cases.open()
                await probation.open()
                await rotate(store, [cases, probation], cipher, batch=batch, new_key=new_key)

        _run(go())

    @keys_group.command("retire")
    @click.argument("kid")
    def keys_retire(kid: str) -> None:
        """Remove an old master key from the keys file (refused while a data key uses it)."""
        settings = _settings()
        cipher = _cipher(settings)

        async def go() -> dict[str, int]:
            async with _opened(settings, cipher) as (store, _backend):
                return await store.key_counts()

        if _run(go()).get(kid, 0):
            raise click.ClickException(f"{kid} still wraps data keys: run `caseline keys rotate` first")
        try:
            retire_key(cipher.keyring, kid)
        except KeyringError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"master key {kid} retired")

    @click.group("retention")
    def retention_group() -> None:
        """Delete data past its retention period."""

    @retention_group.command("sweep")
    @click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
    def retention_sweep(dry_run: bool) -> None:
        """Delete (or count) expired conversations, inbound and sent outbox rows."""
        settings = _settings()
        ring = keyring_for(settings)

        async def go() -> list[str]:
            async with _opened(settings, FieldCipher(ring) if ring else None) as (store, backend):
                check = open_case_lookup(settings, backend) if open_case_lookup else None
                report = await sweep(store, policy_for(settings), datetime.now(UTC), dry_run, check)
                return report.lines()

        for line in _run(go()):
            click.echo(line)

    @click.command("erase")
    @click.option("--contact", "contact_id", required=True, help="The contact id (c_...).")
    @click.option("--keep-case-part/--everything", default=None,
                  help="Keep the transcript for an open case, or erase everything (default: ask the case store).")
    @click.option("--dry-run", is_flag=True, help="Only count what would be erased.")
    @click.confirmation_option(prompt="Erase this contact's data? This cannot be undone.")
    def erase_command(contact_id: str, keep_case_part: bool | None, dry_run: bool) -> None:
        """Erase a contact's conversation and probation data (the right to erasure)."""
        settings = _settings()
        ring = keyring_for(settings)

        async def go() -> dict[str, object]:
            async with _opened(settings, FieldCipher(ring) if ring else None) as (store, backend):
                check = open_case_lookup(settings, backend) if open_case_lookup else None
                probation = probation_store(backend)
                await probation.open()
                report = await erase_contact(store, contact_id, check, keep_case_part=keep_case_part,
                                             dry_run=dry_run, also=[probation])
                return report.as_dict()

        for name, value in _run(go()).items():
            click.echo(f"{name}: {value}")

    return [keys_group, retention_group, erase_command]
