"""The casework store contract again with encryption at rest on, as the app runs it.

Sealing the free text changes how notes, referrals and outcomes are written and read, so
every contract test runs here too, on SQLite and on MongoDB (fake, or real with
``CASELINE_TEST_MONGODB_URI``), against a store built with a cipher.
"""

from __future__ import annotations

import os

import pytest

from caseline.crypto import FieldCipher
from caseline.keyring import Keyring
from caseline.store.factory import Backend, with_cipher
from casework.core import case_store
from casework.ports import CaseStore
from tests.casework.test_store_contract import (  # noqa: F401  (collected here, with the fixture below)
    test_audit_is_append_only_and_filterable,
    test_concurrent_escalations_open_one_case,
    test_each_alert_is_claimed_once,
    test_escalate_opens_one_case_and_adds_triggers,
    test_lease_lapses_back_to_the_queue_and_heartbeat_renews,
    test_queue_order_is_severity_then_waiting_time,
    test_reply_transfer_notes_and_resolve,
    test_resolved_case_lets_a_new_one_open,
    test_twenty_concurrent_claims_exactly_one_wins,
    test_users_sessions_and_lockout,
)


@pytest.fixture
async def store(backend: Backend) -> CaseStore:
    cipher = FieldCipher(Keyring(active="k1", keys={"k1": os.urandom(32)}))
    cases = case_store(with_cipher(backend, cipher))
    await cases.open()
    await cases.open()  # idempotent
    return cases
