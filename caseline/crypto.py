"""Envelope encryption of children's messages at rest (AES-256-GCM).

Why: a conversation store holds disclosures of abuse, and the stores beside it hold what
people wrote about them (case notes, referrals, outcomes, probation check-ins). Encrypting
the sensitive fields (message texts, platform user ids, conversation state, that free
text) means a copied database file, a leaked backup or a curious DBA sees only ciphertext.

How:

* every contact gets its own random 256-bit **data key** (DEK); the fields of that
  contact's rows are sealed with it: ``e1.<base64(nonce | ciphertext | tag)>``;
* the associated data binds a ciphertext to ``(contact id, field)``: pasting it into
  another contact's row or another column fails authentication, and the reader shows
  :data:`UNREADABLE` (and logs the ids, never content) instead of crashing;
* DEKs are stored **wrapped** (AES-GCM under a master key, a KEK, from
  :mod:`caseline.keyring`) in a key store kept apart from the data: SQLite uses a
  separate file ``keys.sqlite3`` beside the data file, MongoDB the ``contact_keys``
  collection. The wrap's associated data binds it to the contact and the master key id.

Consequences that matter for operations (crypto-shredding):

* erasing a contact deletes its DEK, which makes every copy of its data unreadable,
  including copies in backups of the data, once the backups of the *key store* that
  still held the DEK have expired. So back up the key store separately and keep those
  backups for a shorter time than the data's (e.g. 8 days against 35).
* rotating the master key re-wraps the DEKs only (a few bytes per contact): the data
  never has to be rewritten, because data is only readable through a DEK, and a DEK
  only through a master key. Retiring the old master key afterwards makes old key-store
  backups (wrapped under it) unreadable too.

Values not starting with ``e1.`` are legacy plain text written before encryption was
enabled; they pass through unchanged, so existing data upgrades in place.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from caseline.keyring import KEY_BYTES, Keyring, KeyringError

log = logging.getLogger("caseline.crypto")

PREFIX = "e1."
UNREADABLE = "[unreadable]"
NONCE_BYTES = 12
_SEALED = re.compile(r"^e1\.[A-Za-z0-9+/]{38,}={0,2}$")

# Field names, part of the associated data: changing one makes existing data unreadable.
INBOUND_BODY = "inbound.body"
CONV_USER = "conversations.platform_user_id"
CONV_STATE = "conversations.state"
OUTBOX_USER = "outbox.platform_user_id"
OUTBOX_REPLY = "outbox.reply"
TRANSCRIPT_TEXT = "transcript.text"
CASE_NOTE = "cases.notes.text"
CASE_REFERRAL = "cases.referrals.text"
CASE_OUTCOME = "cases.outcome"
PROBATION_MESSAGE = "probation_messages.text"


def probation_answer(column: str) -> str:
    """One field name per check-in answer column, so an answer cannot be pasted into another."""
    return f"probation_windows.{column}"


class DecryptError(Exception):
    """A sealed value failed authentication or its key is missing."""


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX) and _SEALED.match(value) is not None


def _aad(contact_id: str, field: str) -> bytes:
    return f"caseline/v1\x00{contact_id}\x00{field}".encode()


def _wrap_aad(contact_id: str, kid: str) -> bytes:
    return f"caseline/dek/v1\x00{contact_id}\x00{kid}".encode()


@dataclass(frozen=True, slots=True)
class WrappedKey:
    kid: str
    wrapped: str


class DataKey:
    """An unwrapped DEK, ready to seal and open one contact's fields."""

    __slots__ = ("contact_id", "_aead")

    def __init__(self, contact_id: str, key: bytes) -> None:
        self.contact_id = contact_id
        self._aead = AESGCM(key)

    def seal(self, field: str, plaintext: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        ct = self._aead.encrypt(nonce, plaintext.encode(), _aad(self.contact_id, field))
        return PREFIX + base64.b64encode(nonce + ct).decode()

    def open(self, field: str, value: str) -> str:
        try:
            raw = base64.b64decode(value[len(PREFIX):], validate=True)
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(self.contact_id, field)).decode()
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise DecryptError(f"{field} of {self.contact_id} failed authentication") from exc


class _DekCache:
    """Bounded LRU of unwrapped DEKs keyed by contact, tagged with the wrapped form they came from."""

    def __init__(self, size: int, ttl: float | None) -> None:
        self._size = size
        self._ttl = ttl
        self._items: OrderedDict[str, tuple[str, float, DataKey]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, contact_id: str, wrapped: str | None) -> DataKey | None:
        with self._lock:
            hit = self._items.get(contact_id)
            if hit is None:
                return None
            tag, at, key = hit
            if (wrapped is not None and tag != wrapped) or (
                wrapped is None and self._ttl is not None and time.monotonic() - at > self._ttl
            ):
                del self._items[contact_id]
                return None
            self._items.move_to_end(contact_id)
            return key

    def put(self, contact_id: str, wrapped: str, key: DataKey) -> None:
        with self._lock:
            self._items[contact_id] = (wrapped, time.monotonic(), key)
            self._items.move_to_end(contact_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def forget(self, contact_id: str) -> None:
        with self._lock:
            self._items.pop(contact_id, None)

    def __len__(self) -> int:
        return len(self._items)


class FieldCipher:
    """Seals and opens contact fields; wraps DEKs under the keyring's active master key.

    ``cache_ttl`` bounds how long a DEK looked up without its wrapped form (MongoDB's
    reads, which skip the key-store round trip) stays trusted after an erasure elsewhere.
    """

    def __init__(self, keyring: Keyring, cache_size: int = 10_000, cache_ttl: float = 60.0) -> None:
        self.keyring = keyring
        self._cache = _DekCache(cache_size, cache_ttl)

    # -- data keys -------------------------------------------------------------------
    def new_key(self, contact_id: str) -> tuple[WrappedKey, DataKey]:
        raw = os.urandom(KEY_BYTES)
        wrapped = self.wrap(contact_id, raw)
        key = DataKey(contact_id, raw)
        self._cache.put(contact_id, wrapped.wrapped, key)
        return wrapped, key

    def wrap(self, contact_id: str, raw: bytes) -> WrappedKey:
        kid = self.keyring.active
        nonce = os.urandom(NONCE_BYTES)
        ct = AESGCM(self.keyring.kek(kid)).encrypt(nonce, raw, _wrap_aad(contact_id, kid))
        return WrappedKey(kid, base64.b64encode(nonce + ct).decode())

    def unwrap_raw(self, contact_id: str, wrapped: WrappedKey) -> bytes:
        try:
            blob = base64.b64decode(wrapped.wrapped, validate=True)
            return AESGCM(self.keyring.kek(wrapped.kid)).decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], _wrap_aad(contact_id, wrapped.kid)
            )
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise DecryptError(f"data key of {contact_id} failed to unwrap") from exc

    def rewrap(self, contact_id: str, wrapped: WrappedKey) -> WrappedKey:
        """The same DEK under the active master key (rotation)."""
        return self.wrap(contact_id, self.unwrap_raw(contact_id, wrapped))

    def key(self, contact_id: str, wrapped: WrappedKey | None) -> DataKey | None:
        """The unwrapped DEK (cached); ``None`` if there is none or it cannot be unwrapped."""
        if wrapped is None:
            self._cache.forget(contact_id)
            return None
        hit = self._cache.get(contact_id, wrapped.wrapped)
        if hit is not None:
            return hit
        try:
            key = DataKey(contact_id, self.unwrap_raw(contact_id, wrapped))
        except (DecryptError, KeyringError) as exc:
            log.error("cannot unwrap data key", extra={"contact_id": contact_id, "kid": wrapped.kid,
                                                         "error": str(exc)})
            return None
        self._cache.put(contact_id, wrapped.wrapped, key)
        return key

    def cached(self, contact_id: str) -> DataKey | None:
        """A recently used DEK without asking the key store (bounded by ``cache_ttl``)."""
        return self._cache.get(contact_id, None)

    def remember(self, contact_id: str, wrapped: WrappedKey, key: DataKey) -> None:
        self._cache.put(contact_id, wrapped.wrapped, key)

    def forget(self, contact_id: str) -> None:
        self._cache.forget(contact_id)

    # -- fields ------------------------------------------------------------------------
    @staticmethod
    def seal(key: DataKey | None, field: str, value: str) -> str:
        """Encrypt when a key is given; without one (encryption off) the value stays plain."""
        return value if key is None else key.seal(field, value)

    @staticmethod
    def seal_json(key: DataKey | None, field: str, value: Any) -> str:
        return FieldCipher.seal(key, field, json.dumps(value))

    @staticmethod
    def open(key: DataKey | None, contact_id: str, field: str, value: str) -> str:
        """Plain legacy values pass through; a sealed one that fails gives :data:`UNREADABLE`."""
        if not is_sealed(value):
            return value
        try:
            if key is None:
                raise DecryptError(f"no data key for {contact_id}")
            return key.open(field, value)
        except DecryptError as exc:
            log.warning("unreadable field", extra={"contact_id": contact_id, "field": field, "error": str(exc)})
            return UNREADABLE

    @staticmethod
    def open_json(key: DataKey | None, contact_id: str, field: str, value: Any) -> Any:
        """A JSON field: legacy documents (dicts in MongoDB) pass through; ``None`` if unreadable."""
        if not isinstance(value, str):
            return value
        text = FieldCipher.open(key, contact_id, field, value)
        if text == UNREADABLE and is_sealed(value):
            return None
        return json.loads(text)
