"""The probation part of the bot's turn (a :class:`caseline.ports.TurnExtension`).

``before_flow`` answers what only probation knows: an enrolment code (Telegram ``/start CODE``
or a typed ``LINK CODE``), the reminder's "Start check-in" button, and the young person's
requests (next check-in, a message for the officer, "I can't make it"). ``flow_events`` keeps
the check-in flow's answers as the check-in record of the open window.

The pipeline calls both only after the safeguarding screen and the handoff check, so a
disclosure never reaches this module and never lands in the compliance record.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from caseline.messages import Inbound, Reply
from caseline.ports import Escalation
from casework.probation.model import ANSWER_FIELDS, CheckinWindow, Enrolment, OfficerMessage, parse_code
from casework.probation.planner import CHECKIN_PAYLOAD, Planner, local_text
from casework.probation.ports import ProbationStore
from casework.probation.texts import KEYWORDS, say
from flows.engine import FlowEngine
from flows.events import FlowEvent, FlowInput, OpenCase, RecordAnswer, SendReply, SetField

Clock = Callable[[], datetime]
Alert = Callable[[Escalation], Awaitable[str]]
NOTE_WAIT = timedelta(hours=1)
MAX_NOTE_CHARS = 2000
PAYLOADS = {"probation.next": "next", "probation.message": "message", "probation.cant": "cant",
            CHECKIN_PAYLOAD: "checkin"}


class Audit(Protocol):
    async def record(self, actor: str, action: str, target: str = "", result: str = "ok", **detail: Any) -> None:
        ...


def _normal(text: str) -> str:
    return re.sub(r"[\s!.?,;:]+", " ", text.casefold().replace("’", "'")).strip()


class ProbationExtension:
    def __init__(
        self,
        store: ProbationStore,
        planner: Planner,
        engine: Callable[[], FlowEngine],
        clock: Clock,
        alert: Alert,
        audit: Audit,
    ) -> None:
        self.store = store
        self.planner = planner
        self.engine = engine
        self.clock = clock
        self.alert = alert
        self.audit = audit

    # -- before the flow ---------------------------------------------------------------
    async def before_flow(
        self, message: Inbound, seq: int, fields: dict[str, str], state: dict[str, object]
    ) -> list[Reply] | None:
        lang = fields.get("lang") or message.lang_hint or "en"
        linked = await self._link(message, seq, fields, state, lang)
        if linked is not None:
            return linked
        enrolment = await self.store.enrolment_for_contact(message.contact_id)
        if enrolment is None:
            return None
        note = await self._pending_note(enrolment, message, seq, state, lang)
        if note is not None:
            return note
        request = self._request(message, lang)
        if request == "checkin":
            return await self._start_checkin(enrolment, message, seq, fields, state)
        if request == "next":
            return [Reply(await self.next_text(enrolment, lang))]
        if request == "message":
            state["probation_await"] = {"kind": "note", "until": (self.clock() + NOTE_WAIT).isoformat()}
            return [Reply(say("ask_note", lang))]
        if request == "cant":
            return [await self._cant_make_it(enrolment, message, seq, lang)]
        return None

    def _request(self, message: Inbound, lang: str) -> str | None:
        if message.payload in PAYLOADS:
            return PAYLOADS[message.payload]
        if message.text is None:
            return None
        typed = _normal(message.text)
        for request, table in KEYWORDS.items():
            phrases = {_normal(p) for p in (*table.get(lang, ()), *table["en"])}
            if typed in phrases:
                return request
        return None

    async def _link(
        self, message: Inbound, seq: int, fields: dict[str, str], state: dict[str, object], lang: str
    ) -> list[Reply] | None:
        if message.kind == "start":
            parsed = parse_code(message.payload) if message.payload else None
            if parsed is not None:
                parsed = (parsed[0], True)
        else:
            parsed = parse_code(message.text) if message.text else None
        if parsed is None:
            return None
        code, explicit = parsed
        now = self.clock()
        enrolment_id = await self.store.redeem_code(code, message.contact_id, now)
        if enrolment_id is None or not await self.store.link(
            enrolment_id, message.contact_id, message.channel, lang, now
        ):
            if explicit:
                await self.audit.record("system", "probation.link", code[:2] + "…", "denied")
                return [Reply(say("bad_code", lang))]
            return None
        enrolment = await self.store.get_enrolment(enrolment_id)
        assert enrolment is not None
        fields["role"] = "probation"
        state["probation_enrolment"] = enrolment.id
        occ = await self.planner.plan(enrolment, now)
        await self.audit.record("system", "probation.link", enrolment.id, channel=message.channel)
        upcoming = local_text(occ.at, enrolment.schedule.zone) if occ else "-"
        replies = [Reply(say("welcome", lang, next=upcoming))]
        if not fields.get("consent_version"):
            # The privacy notice and consent come first: start onboarding right away.
            replies += await self._step(message, seq, fields, state, FlowInput(
                channel=message.channel, lang_hint=message.lang_hint, country=message.country))
        return replies

    async def _pending_note(
        self, enrolment: Enrolment, message: Inbound, seq: int, state: dict[str, object], lang: str
    ) -> list[Reply] | None:
        waiting = state.pop("probation_await", None)
        if not isinstance(waiting, dict) or message.text is None or not message.text.strip():
            return None
        if datetime.fromisoformat(str(waiting.get("until"))) < self.clock():
            return None
        await self.store.add_message(OfficerMessage(
            f"{message.contact_id}:{seq}", enrolment.id, "note", message.text.strip()[:MAX_NOTE_CHARS], self.clock()
        ))
        return [Reply(say("note_sent", lang))]

    async def _cant_make_it(self, enrolment: Enrolment, message: Inbound, seq: int, lang: str) -> Reply:
        now = self.clock()
        current = await self.store.window_at(enrolment.id, now)
        key: str | None = None
        when = now
        if current is not None and current.status == "open":
            key, when = current.occ_key, current.opens_at
        elif (occ := self.planner.next_occurrence(enrolment, now)) is not None:
            key, when = occ.key, occ.at
        text = message.text or "I can't make it"
        await self.store.add_message(OfficerMessage(
            f"{message.contact_id}:{seq}", enrolment.id, "reschedule", text[:MAX_NOTE_CHARS], now, key
        ))
        return Reply(say("reschedule", lang, when=local_text(when, enrolment.schedule.zone)))

    async def next_text(self, enrolment: Enrolment, lang: str) -> str:
        now = self.clock()
        current = await self.store.window_at(enrolment.id, now)
        if enrolment.status == "active" and current is not None and current.status == "open":
            return say("open_now", lang, closes=local_text(current.closes_at, enrolment.schedule.zone))
        occ = self.planner.next_occurrence(enrolment, now) if enrolment.status == "active" else None
        if occ is None:
            return say("none_planned", lang)
        return say("next", lang, next=local_text(occ.at, enrolment.schedule.zone))

    async def _start_checkin(
        self, enrolment: Enrolment, message: Inbound, seq: int, fields: dict[str, str], state: dict[str, object]
    ) -> list[Reply]:
        config = self.engine().library.config
        intent = next((i for i, f in config.intents.items() if f == enrolment.question_set), None)
        inp = FlowInput(intent=intent, intent_confidence=1.0 if intent else 0.0, channel=message.channel,
                        lang_hint=message.lang_hint, country=message.country)
        return await self._step(message, seq, fields, state, inp)

    async def _step(
        self, message: Inbound, seq: int, fields: dict[str, str], state: dict[str, object], inp: FlowInput
    ) -> list[Reply]:
        """Step the flow engine ourselves (to enter a flow by its intent) and apply its events."""
        session = state.get("flow")
        result = self.engine().step(session if isinstance(session, dict) else None, fields, inp)
        state["flow"] = result.session
        replies: list[Reply] = []
        for event in result.events:
            if isinstance(event, SendReply):
                replies.append(event.reply)
            elif isinstance(event, SetField):
                fields[event.name] = event.value
            elif isinstance(event, OpenCase):
                state["case_id"] = await self.alert(Escalation(
                    message.contact_id, message.channel, event.severity, event.categories, event.reason, seq,
                    fields.get("lang", "en"), message.country,
                ))
        await self.flow_events(message, seq, fields, result.events)
        return replies

    # -- after the flow ----------------------------------------------------------------
    async def flow_events(
        self, message: Inbound, seq: int, fields: Mapping[str, str], events: Sequence[FlowEvent]
    ) -> None:
        answers = [e for e in events if isinstance(e, RecordAnswer) and e.node in ANSWER_FIELDS]
        if not answers:
            return
        enrolment = await self.store.enrolment_for_contact(message.contact_id)
        if enrolment is None or answers[0].flow != enrolment.question_set:
            return
        window = await self.window_for_answer(enrolment)
        for answer in answers:
            await self.store.record_answer(enrolment.id, window.occ_key, answer.node, answer.value, self.clock())

    async def window_for_answer(self, enrolment: Enrolment) -> CheckinWindow:
        """The open window, else an unscheduled one for today (a check-in nobody asked for still counts)."""
        now = self.clock()
        current = await self.store.window_at(enrolment.id, now)
        if current is not None and current.status != "missed":
            return current
        local = now.astimezone(ZoneInfo(enrolment.schedule.zone))
        return await self.store.open_window(CheckinWindow(
            enrolment.id, f"adhoc:{local:%Y-%m-%d}", now, now + timedelta(minutes=enrolment.window_minutes)
        ))
