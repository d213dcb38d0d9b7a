"""Whatever a contact sends, and whatever state arrives, ``step`` never raises."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.engine import FlowEngine
from flows.events import FlowInput, SetField

ENGINE = FlowEngine.load()
PAYLOADS = sorted({
    f"{node.id}.{choice['id']}"
    for flow in ENGINE.library.versions.values()
    for node in flow.nodes.values()
    for choice in node.get("buttons") or node.get("list") or []
}) + ["g.menu", "g.stop", "g.help"]
INTENTS = sorted(ENGINE.library.config.intents) + ["stop", "help", "menu", "delete_my_data", "x"]

inputs = st.builds(
    FlowInput,
    text=st.none() | st.text(max_size=40) | st.sampled_from(["1", "2", "3", "stop", "menu", "12"]),
    payload=st.none() | st.sampled_from(PAYLOADS) | st.text(max_size=70),
    intent=st.none() | st.sampled_from(INTENTS),
    intent_confidence=st.floats(0, 1),
    entities=st.dictionaries(st.sampled_from(["child_age", "x"]), st.text(max_size=5), max_size=2),
    received_at=st.none() | st.datetimes(timezones=st.none() | st.just(UTC)),
)
fields = st.dictionaries(
    st.sampled_from(["lang", "role", "consent_version", "consent_at", "child_age_group"]),
    st.sampled_from(["en", "ru", "parent", "young_person", "probation", "1", "2", "", "zz"]),
)
junk: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(inputs, min_size=1, max_size=12), fields)
def test_random_conversations_never_raise(turns: list[FlowInput], start: dict[str, str]) -> None:
    session = None
    contact = dict(start)
    for inp in turns:
        result = ENGINE.step(session, contact, inp)
        session = result.session
        contact.update({e.name: e.value for e in result.events if isinstance(e, SetField)})
        for reply in result.replies:
            assert reply.text


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["stack", "waiting", "vars", "answer"]), junk), inputs)
def test_garbage_sessions_never_raise(session: dict[str, Any], inp: FlowInput) -> None:
    ENGINE.step(session, {}, inp)
