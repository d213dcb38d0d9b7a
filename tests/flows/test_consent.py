"""Consent: recorded with the notice version and time; a changed notice asks again.

The shipped content is copied and its ``consent_version`` bumped, which is exactly what
a social worker does after changing the notice, so these tests run the real onboarding.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from caseline.identity import contact_id
from caseline.messages import Inbound
from flows.check import SHIPPED_CONTENT
from flows.engine import FlowEngine
from flows.events import FlowError, FlowInput, OptOut, RecordAnswer, RequestErasure, SetField, StepResult
from flows.spec import MAX_STACK

AGREED_V1 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
NOW = datetime(2025, 6, 2, 8, 15, 30, tzinfo=UTC)
ONBOARDING = yaml.safe_load((SHIPPED_CONTENT / "onboarding.yml").read_text("utf-8"))
NODE_TEXT = {n["id"]: n.get("text") for n in ONBOARDING["nodes"]}


def bumped_content(tmp_path: Path, version: int) -> Path:
    """The shipped content with the notice version changed, as an editor would leave it."""
    target = tmp_path / f"content_v{version}"
    shutil.copytree(SHIPPED_CONTENT, target)
    config = target / "_config.yml"
    text, count = re.subn(r"(?m)^consent_version: \d+$", f"consent_version: {version}",
                          config.read_text("utf-8"))
    assert count == 1
    config.write_text(text, "utf-8")
    return target


@pytest.fixture(scope="module")
def v1() -> FlowEngine:
    engine = FlowEngine.load()
    assert engine.library.config.consent_version == 1
    return engine


@pytest.fixture(scope="module")
def v2(v1: FlowEngine, tmp_path_factory: pytest.TempPathFactory) -> FlowEngine:
    """Version 2 loaded over version 1, as ``caseline flows reload`` does in a running server."""
    engine = v1.reload(bumped_content(tmp_path_factory.mktemp("consent"), 2))
    assert engine.library.config.consent_version == 2
    return engine


@dataclass
class Contact:
    """One person's side of the conversation: the session and fields the service keeps."""

    fields: dict[str, str]
    session: dict[str, Any] | None = None
    results: list[StepResult] = field(default_factory=list)

    def send(self, engine: FlowEngine, at: datetime = NOW, **inp: Any) -> StepResult:
        result = engine.step(self.session, self.fields, FlowInput(received_at=at, **inp))
        self.session = result.session
        self.fields.update({e.name: e.value for e in result.events if isinstance(e, SetField)})
        self.results.append(result)
        return result


def onboarded_v1(lang: str = "en", role: str | None = "parent") -> Contact:
    fields = {"lang": lang, "consent_version": "1", "consent_at": AGREED_V1.isoformat()}
    if role is not None:
        fields["role"] = role
    return Contact(fields)


def texts(result: StepResult) -> list[str]:
    return [r.text for r in result.replies]


def consent_sets(result: StepResult) -> list[SetField]:
    return [e for e in result.events
            if isinstance(e, SetField) and e.name in ("consent_version", "consent_at")]


def text_of(node_id: str, lang: str = "en") -> str:
    text = NODE_TEXT[node_id]
    assert isinstance(text, dict)
    return str(text[lang])


def test_changed_notice_asks_again_and_agreeing_records_version_and_time(v2: FlowEngine) -> None:
    contact = onboarded_v1()
    asked = contact.send(v2, text="hi")
    assert texts(asked) == [text_of("notice_changed"), text_of("privacy"), text_of("consent")]
    assert [b.payload for b in asked.replies[-1].buttons] == ["consent.agree", "consent.disagree"]
    assert consent_sets(asked) == []

    agreed = contact.send(v2, payload="consent.agree")
    assert consent_sets(agreed) == [SetField("consent_at", "2025-06-02T08:15:30+00:00"),
                                    SetField("consent_version", "2")]
    assert contact.fields["consent_version"] == "2"
    assert texts(agreed) == [text_of("renewed"), "What would you like help with?"]
    assert "Who are you?" not in texts(agreed)


def test_declining_the_changed_notice_records_nothing_and_asks_next_time(v2: FlowEngine) -> None:
    contact = onboarded_v1()
    contact.send(v2, text="hi")
    declined = contact.send(v2, payload="consent.disagree")
    assert texts(declined) == [text_of("no_consent")]
    assert consent_sets(declined) == []
    assert contact.fields["consent_version"] == "1"
    assert contact.fields["consent_at"] == AGREED_V1.isoformat()
    assert declined.session is not None and declined.session["stack"] == []

    again = contact.send(v2, text="menu")
    assert texts(again)[0] == text_of("notice_changed")
    assert "What would you like help with?" not in texts(again)


def test_contact_on_the_current_version_is_not_asked_again(v1: FlowEngine, v2: FlowEngine) -> None:
    for engine, version in ((v1, "1"), (v2, "2")):
        contact = Contact({"lang": "en", "role": "parent", "consent_version": version,
                           "consent_at": AGREED_V1.isoformat()})
        result = contact.send(engine, text="hi")
        assert texts(result) == ["What would you like help with?"]
        assert consent_sets(result) == []


def test_first_contact_records_consent_with_its_time(v2: FlowEngine) -> None:
    contact = Contact({})
    contact.send(v2, text="hi")
    shown = contact.send(v2, payload="ask.en")
    assert text_of("notice_changed") not in texts(shown)
    assert texts(shown)[-2:] == [text_of("privacy"), text_of("consent")]
    a_minute_later = NOW + timedelta(minutes=1)
    agreed = contact.send(v2, at=a_minute_later, payload="consent.agree")
    assert consent_sets(agreed) == [SetField("consent_at", "2025-06-02T08:16:30+00:00"),
                                    SetField("consent_version", "2")]
    assert texts(agreed) == ["Who are you?"]


def test_agreeing_resumes_the_question_the_contact_was_answering(
    v1: FlowEngine, v2: FlowEngine
) -> None:
    contact = onboarded_v1()
    started = contact.send(v1, text="my child won't sleep", intent="parenting_sleep",
                           intent_confidence=0.9, entities={"child_age": "4"})
    assert texts(started)[-1] == "Was this helpful?"

    answer = contact.send(v2, payload="helpful.no")
    assert not any(isinstance(e, RecordAnswer) for e in answer.events)
    assert texts(answer)[0] == text_of("notice_changed")

    agreed = contact.send(v2, payload="consent.agree")
    assert texts(agreed) == [text_of("renewed"), "Was this helpful?"]
    answered = contact.send(v2, payload="helpful.no")
    assert RecordAnswer("parenting_sleep", "helpful", "no") in answered.events


def test_declining_drops_what_the_notice_interrupted(v1: FlowEngine, v2: FlowEngine) -> None:
    contact = onboarded_v1()
    contact.send(v1, text="sleep", intent="parenting_sleep", intent_confidence=0.9,
                 entities={"child_age": "4"})
    contact.send(v2, payload="helpful.no")
    declined = contact.send(v2, payload="consent.disagree")
    assert texts(declined) == [text_of("no_consent")]
    assert declined.session is not None and declined.session["stack"] == []
    assert not any(isinstance(e, RecordAnswer) for e in declined.events)


def test_a_topic_asked_for_opens_after_agreeing(v2: FlowEngine) -> None:
    contact = onboarded_v1()
    asked = contact.send(v2, text="my child won't sleep", intent="parenting_sleep",
                         intent_confidence=0.9, entities={"child_age": "4"})
    assert texts(asked)[0] == text_of("notice_changed")
    agreed = contact.send(v2, payload="consent.agree")
    assert texts(agreed)[0] == text_of("renewed")
    assert texts(agreed)[1].startswith("Good sleep helps children")


def test_unknown_role_is_asked_after_agreeing_again(v2: FlowEngine) -> None:
    contact = onboarded_v1(role=None)
    contact.send(v2, text="hi")
    agreed = contact.send(v2, payload="consent.agree")
    assert SetField("consent_version", "2") in agreed.events
    assert texts(agreed) == ["Who are you?"]
    chosen = contact.send(v2, payload="ask_role.young")
    assert texts(chosen)[0] == "Thank you! Here is what I can help with."


@pytest.mark.parametrize("lang", ["en", "ru", "uk", "ro", "sr"])
def test_changed_notice_speaks_the_contacts_language(v2: FlowEngine, lang: str) -> None:
    contact = onboarded_v1(lang)
    asked = contact.send(v2, text="hi")
    assert texts(asked) == [text_of(n, lang) for n in ("notice_changed", "privacy", "consent")]
    agreed = contact.send(v2, payload="consent.agree")
    assert texts(agreed)[0] == text_of("renewed", lang)


def test_help_and_language_work_while_consent_is_pending(v2: FlowEngine) -> None:
    contact = onboarded_v1()
    contact.send(v2, text="hi")
    helped = contact.send(v2, text="help")
    assert texts(helped)[0].startswith("I can give parenting tips")
    assert texts(helped)[-1] == text_of("consent")

    listed = contact.send(v2, text="language")
    assert listed.replies[-1].list_items[1].title == "Русский"
    switched = contact.send(v2, payload="ask.ru")
    assert texts(switched)[-1] == text_of("consent", "ru")
    agreed = contact.send(v2, payload="consent.agree")
    assert SetField("consent_version", "2") in agreed.events


def test_help_asked_first_is_followed_by_the_notice(v1: FlowEngine, v2: FlowEngine) -> None:
    contact = onboarded_v1()
    contact.send(v1, text="sleep", intent="parenting_sleep", intent_confidence=0.9,
                 entities={"child_age": "4"})
    helped = contact.send(v2, text="help")
    assert texts(helped)[0].startswith("I can give parenting tips")
    assert texts(helped)[-3:] == [text_of("notice_changed"), text_of("privacy"),
                                  text_of("consent")]


def test_stop_and_delete_work_while_consent_is_pending(v2: FlowEngine) -> None:
    stopping = onboarded_v1()
    stopping.send(v2, text="hi")
    assert OptOut() in stopping.send(v2, text="stop").events

    deleting = onboarded_v1()
    deleting.send(v2, text="hi")
    confirm = deleting.send(v2, text="delete my data")
    assert [b.payload for b in confirm.replies[-1].buttons][0] == "confirm.yes_delete"
    assert RequestErasure() in deleting.send(v2, payload="confirm.yes_delete").events

    keeping = onboarded_v1()
    keeping.send(v2, text="hi")
    keeping.send(v2, text="delete my data")
    kept = keeping.send(v2, payload="confirm.keep")
    assert texts(kept) == ["OK, nothing was deleted.", text_of("consent")]


def test_consent_time_is_stored_in_utc(v2: FlowEngine) -> None:
    contact = onboarded_v1()
    contact.send(v2, text="hi")
    bucharest = timezone(timedelta(hours=3))
    agreed = contact.send(v2, at=datetime(2025, 6, 2, 11, 15, 30, tzinfo=bucharest),
                          payload="consent.agree")
    assert SetField("consent_at", "2025-06-02T08:15:30+00:00") in agreed.events


def test_consent_without_a_time_clears_the_old_time_and_says_so(v2: FlowEngine) -> None:
    contact = onboarded_v1()
    contact.send(v2, text="hi")
    result = v2.step(contact.session, contact.fields, FlowInput(payload="consent.agree"))
    assert consent_sets(result) == [SetField("consent_at", ""), SetField("consent_version", "2")]
    assert any(isinstance(e, FlowError) and e.code == "no_consent_time" for e in result.events)


def test_a_stack_too_deep_to_slot_into_is_replaced_by_the_notice(v2: FlowEngine) -> None:
    sleep = v2.flow("parenting_sleep")
    assert sleep is not None
    frame = {"flow": sleep.id, "rev": sleep.rev, "node": "helpful"}
    contact = onboarded_v1()
    contact.session = {"stack": [frame] * MAX_STACK, "waiting": True}
    asked = contact.send(v2, payload="helpful.no")
    assert texts(asked)[0] == text_of("notice_changed")
    assert asked.session is not None
    assert [f["flow"] for f in asked.session["stack"]] == ["onboarding"]


async def test_the_pipeline_stamps_consent_with_the_arrival_time(make_services: Any) -> None:
    services = await make_services()
    contact = contact_id(services.settings.secret_key, "webchat", "consent-1")
    arrived = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    turns: list[tuple[str | None, str | None]] = [("hi", None), (None, "ask.en"),
                                                   (None, "consent.agree")]
    for i, (text, payload) in enumerate(turns):
        await services.pipeline.submit(Inbound(
            "webchat", "consent-1", contact, f"consent-{i}", arrived + timedelta(minutes=i),
            text=text, payload=payload, kind="text" if text else "button"))
    conv = await services.store.load_conversation(contact)
    assert conv is not None
    assert conv.state["fields"]["consent_version"] == "1"
    assert conv.state["fields"]["consent_at"] == "2026-02-03T04:07:06+00:00"
