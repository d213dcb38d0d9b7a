"""The message path: inbox -> screen -> (person | NLU -> flow) -> outbox.

One contact's messages are processed one at a time, in arrival order, under a lease
held in the store; the state is re-read from the store for every turn, so any number
of processes can share the work.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from caseline.contact_state import OFFERED, TURN_KEY_PREFIX, UNREACHABLE, offered_value, typed_choice
from caseline.erasure import ContactEraser, erase_contact
from caseline.logs import correlation_id
from caseline.messages import Inbound, Reply
from caseline.metrics import Metrics, seconds_since
from caseline.ports import CaseGateway, Escalation, TurnExtension
from caseline.store.base import (
    Conversation,
    ConversationStore,
    InboundRecord,
    OutboxDraft,
    OutboxItem,
    TranscriptDraft,
    TurnCommit,
    VersionConflict,
)
from flows.engine import FlowEngine
from flows.events import (
    FlowInput,
    OpenCase,
    OptOut,
    RequestErasure,
    SendReply,
    SetField,
)
from nlu.result import FALLBACK_INTENT, Nlu
from safeguarding.respond import SafetyResponder
from safeguarding.screen import RiskScreen
from safeguarding.verdict import Verdict

log = logging.getLogger("caseline.pipeline")

Clock = Callable[[], datetime]
Leased = tuple[InboundRecord, Conversation]
HISTORY_WINDOW = 5


def utcnow() -> datetime:
    return datetime.now(UTC)


class ReplyTaker(Protocol):
    """Sends the replies a turn's commit claimed (the outbox worker)."""

    @property
    def taking(self) -> bool:
        """Whether claimed replies would be sent now (the worker is running)."""

    def take(self, claimed: Sequence[OutboxItem], unclaimed: int) -> None:
        """Send ``claimed``; ``unclaimed`` more of the turn's replies wait in the queue."""


@dataclass
class Turn:
    """What one inbound message produced, gathered before it is committed."""

    replies: list[Reply] = field(default_factory=list)
    author: str = "bot"
    erase: bool = False


@dataclass
class Stages:
    screen: RiskScreen
    responder: SafetyResponder
    nlu: Nlu
    flows: FlowEngine


class Pipeline:
    def __init__(
        self,
        store: ConversationStore,
        stages: Stages,
        cases: CaseGateway,
        *,
        lease_seconds: float = 30.0,
        safety_mode_turns: int = 3,
        default_country: str | None = None,
        clock: Clock = utcnow,
        replies: ReplyTaker | None = None,
        metrics: Metrics | None = None,
        extensions: Sequence[TurnExtension] = (),
    ) -> None:
        self.store = store
        self.stages = stages
        self.cases = cases
        self.lease = timedelta(seconds=lease_seconds)
        self.safety_mode_turns = safety_mode_turns
        self.default_country = default_country
        self.clock = clock
        self.owner = f"proc-{uuid.uuid4().hex[:12]}"
        self.replies = replies
        self._background: set[asyncio.Task[bool]] = set()
        self.metrics = metrics or Metrics()
        self.extensions: list[TurnExtension] = list(extensions)
        self.erasers: list[ContactEraser] = []  # other stores' parts of a contact (probation)

    async def submit(self, message: Inbound) -> int | None:
        """Persist a message (durably, before any answer to the platform) and process it.

        Returns the inbox sequence number, or None for a duplicate delivery.
        """
        seq, turn = await self._accept(message)
        if seq is not None:
            await self.drain(message.contact_id, turn)
        return seq

    async def _accept(self, message: Inbound) -> tuple[int | None, Leased | None]:
        """Accepted and, when the contact is idle, leased to us in the same store call."""
        now = self.clock()
        seq, turn = await self.store.accept_and_lease(message, self.owner, now, now + self.lease)
        counter = self.metrics.messages_in if seq is not None else self.metrics.duplicates
        counter.labels(message.channel).inc()
        return seq, turn

    async def accept(self, message: Inbound) -> int | None:
        """Persist a message and process it off the request (webhooks answer 200 at once)."""
        seq, turn = await self._accept(message)
        if seq is not None:
            self.process_soon(message.contact_id, turn)
        return seq

    def process_soon(self, contact_id: str, turn: Leased | None = None) -> None:
        task = asyncio.create_task(self.drain(contact_id, turn))
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[bool]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The message stays pending in the store; the recovery loop retries it.
            log.error("background processing failed: %r", task.exception())

    async def close(self) -> None:
        """Let in-flight turns finish (each is one store commit) before shutdown."""
        if self._background:
            await asyncio.wait(self._background, timeout=10)

    async def wait_processed(self, contact_id: str, seq: int, timeout: float = 10.0) -> list[OutboxItem]:
        """Wait until another holder of the lease (maybe another process) has done ``seq``."""
        deadline = asyncio.get_running_loop().time() + timeout
        delay = 0.005
        while await self.store.inbound_status(seq) != "done":
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"message {seq} not processed within {timeout}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
            await self.drain(contact_id)
        return await self.store.outbox_for_inbound(seq)

    async def drain(self, contact_id: str, leased: Leased | None = None) -> bool:
        """Process the contact's pending messages if no one else is; true if we did.

        ``leased`` is a turn already leased to us (by :meth:`_accept`), processed first.
        """
        worked = False
        while (turn := leased or await self._lease_turn(contact_id)) is not None:
            leased = None
            worked = True
            renewed = self.clock()
            try:
                while turn is not None:
                    if self.clock() - renewed > self.lease / 3:
                        await self._take_lease(contact_id)
                        renewed = self.clock()
                    # Usually that was the contact's only message: the commit also releases the lease.
                    if await self._process_with_retry(*turn):
                        return worked
                    await asyncio.sleep(0)  # store calls may not suspend: let webhooks in between turns
                    turn = await self.store.load_turn(contact_id)
            except BaseException:
                await self.store.release_lease(contact_id, self.owner)
                raise
            if await self.store.release_if_idle(contact_id, self.owner):
                break
        return worked

    async def recover(self) -> int:
        """Process whatever a crashed process left pending; returns contacts drained."""
        contacts = await self.store.pending_contacts()
        drained = 0
        for contact in contacts:
            drained += int(await self.drain(contact))
        return drained

    async def _lease_turn(self, contact_id: str) -> tuple[InboundRecord, Conversation] | None:
        now = self.clock()
        return await self.store.lease_turn(contact_id, self.owner, now, now + self.lease)

    async def _take_lease(self, contact_id: str) -> bool:
        now = self.clock()
        return await self.store.acquire_lease(contact_id, self.owner, now, now + self.lease)

    async def _process_with_retry(self, record: InboundRecord, conv: Conversation) -> bool:
        """Run and commit one turn; true if the commit also released the lease (nothing left)."""
        correlation_id.set(f"in-{record.seq}")
        for _attempt in range(5):
            released = False
            try:
                turn, commit = await self._turn(conv, record)
                claimed: list[OutboxItem] = []
                if turn.erase:
                    await self.store.commit_turn(commit)
                    await self._erase(record, conv, turn)
                elif self.replies is not None and self.replies.taking:
                    released, claimed = await self.store.commit_and_claim(
                        commit, self.owner, self.clock() + self.lease)
                else:  # nobody would send a reply claimed now: leave it to a later claim
                    released = await self.store.commit_and_release(commit, self.owner)
            except VersionConflict:
                # The state moved under us (a case worker's hand-back, say): start over.
                fresh = await self.store.load_turn(conv.contact_id)
                if fresh is None or fresh[0].seq != record.seq:
                    return False
                record, conv = fresh
                continue
            msg = record.message
            self.metrics.turn_latency.labels(msg.channel).observe(seconds_since(msg.received_at, self.clock()))
            if self.replies is not None:
                self.replies.take(claimed, len(turn.replies) - len(claimed))
            return released
        raise VersionConflict(record.message.contact_id)

    async def _erase(self, record: InboundRecord, conv: Conversation, turn: Turn) -> None:
        """The contact confirmed "delete my data": erase, then tell them (the reply survives)."""
        contact = record.message.contact_id
        case = await self.cases.open_case(contact)
        report = await erase_contact(self.store, contact, keep_case_part=case is not None, also=self.erasers)
        counts = {k: int(v) for k, v in report.as_dict().items() if isinstance(v, int | bool) and k != "dry_run"}
        await self.cases.record_erasure(contact, counts)
        drafts = [
            OutboxDraft(f"erase:{record.seq}:{i}", contact, record.message.channel, conv.platform_user_id, reply)
            for i, reply in enumerate(turn.replies)
        ]
        await self.store.enqueue(drafts, [])

    async def _turn(self, conv: Conversation, record: InboundRecord) -> tuple[Turn, TurnCommit]:
        state: dict[str, Any] = dict(conv.state)
        msg = _as_choice(record.message, state)
        if state.get(UNREACHABLE) == msg.channel:
            state[UNREACHABLE] = None  # they wrote to us, so they have not blocked us
        fields: dict[str, str] = dict(state.get("fields", {}))
        lang = fields.get("lang") or msg.lang_hint or "en"
        country = fields.get("country") or msg.country or self.default_country
        history: list[str] = list(state.get("recent", []))
        text = msg.content
        turn = Turn()

        verdict = self.stages.screen.screen(text, lang, history[-(HISTORY_WINDOW - 1):])
        if verdict.categories:
            self.metrics.screened(verdict.categories, verdict.severity.label)
        state["recent"] = (history + [text])[-HISTORY_WINDOW:] if msg.text is not None else history
        state["turns"] = int(state.get("turns", 0)) + 1
        state["last_inbound_at"] = msg.received_at.isoformat()
        handling = await self.cases.handling_case(msg.contact_id)

        if verdict.escalates:
            await self._escalate(msg, record.seq, verdict, lang, country, state)
            if handling is None:
                turn.replies += self.stages.responder.reply(verdict, lang, country)
        if handling is not None:
            await self.cases.contact_wrote(handling, msg.contact_id)
        elif verdict.escalates:
            pass
        elif msg.text is not None and self.stages.responder.is_safe_word(msg.text):
            turn.replies += self.stages.responder.help_details(lang, country)
        elif int(state.get("safety_mode", 0)) > 0 and not _is_menu_request(msg):
            await self._safety_followup(msg, record.seq, lang, country, state, turn)
        else:
            await self._run_flow(msg, record.seq, fields, lang, country, state, turn)
        state["fields"] = fields
        return turn, self._commit(conv, record, msg, state, turn)

    async def _escalate(
        self, msg: Inbound, seq: int, verdict: Verdict, lang: str, country: str | None,
        state: dict[str, Any],
    ) -> None:
        self.metrics.escalations.labels(verdict.severity.label).inc()
        case_id = await self.cases.escalate(Escalation(
            contact_id=msg.contact_id, channel=msg.channel, severity=verdict.severity.label,
            categories=verdict.categories, reason="screen", inbound_seq=seq, lang=lang,
            country=country, rules=tuple(m.rule for m in verdict.matches),
        ))
        state["case_id"] = case_id
        state["safety_mode"] = self.safety_mode_turns

    async def _safety_followup(
        self, msg: Inbound, seq: int, lang: str, country: str | None, state: dict[str, Any],
        turn: Turn,
    ) -> None:
        state["safety_mode"] = int(state["safety_mode"]) - 1
        if self.stages.responder.wants_person(msg.content, lang):
            await self.cases.escalate(Escalation(
                msg.contact_id, msg.channel, "low", (), "asked_for_person", seq, lang, country,
            ))
        if msg.payload == "safety:ok":
            state["safety_mode"] = 0
        turn.replies += self.stages.responder.followup(msg.content, lang, country)

    async def _run_flow(
        self, msg: Inbound, seq: int, fields: dict[str, str], lang: str, country: str | None,
        state: dict[str, Any], turn: Turn,
    ) -> None:
        for extension in self.extensions:
            answered = await extension.before_flow(msg, seq, fields, state)
            if answered is not None:
                turn.replies += answered
                return
        text = msg.text or ""
        parse = await self.stages.nlu.parse(text, lang) if text else None
        if parse is not None and parse.intent.name == FALLBACK_INTENT:
            self.metrics.nlu_fallbacks.inc()
        inp = FlowInput(
            text=msg.text,
            payload=msg.payload,
            intent=parse.intent.name if parse else None,
            intent_confidence=parse.intent.confidence if parse else 0.0,
            entities={e.entity: e.value for e in parse.entities} if parse else {},
            channel=msg.channel,
            lang_hint=msg.lang_hint,
            country=country,
            received_at=msg.received_at,
        )
        result = self.stages.flows.step(state.get("flow"), fields, inp)
        state["flow"] = result.session
        for event in result.events:
            if isinstance(event, SendReply):
                turn.replies.append(event.reply)
            elif isinstance(event, SetField):
                fields[event.name] = event.value
            elif isinstance(event, OpenCase):
                state["case_id"] = await self.cases.escalate(Escalation(
                    msg.contact_id, msg.channel, event.severity, event.categories, event.reason,
                    seq, fields.get("lang", lang), country,
                ))
            elif isinstance(event, OptOut):
                state["opted_out"] = True
            elif isinstance(event, RequestErasure):
                turn.erase = True
        for extension in self.extensions:
            await extension.flow_events(msg, seq, fields, result.events)

    def _commit(
        self, conv: Conversation, record: InboundRecord, msg: Inbound, state: dict[str, Any], turn: Turn
    ) -> TurnCommit:
        now = self.clock()
        if turn.replies:
            state[OFFERED] = offered_value(turn.replies[-1])
        drafts = [
            OutboxDraft(f"{TURN_KEY_PREFIX}{record.seq}:{i}", msg.contact_id, msg.channel, conv.platform_user_id,
                        reply, record.seq)
            for i, reply in enumerate(turn.replies)
        ]
        transcript = [TranscriptDraft(msg.contact_id, "in", "contact", msg.content, msg.received_at,
                                      record.seq)]
        transcript += [TranscriptDraft(msg.contact_id, "out", turn.author, r.as_text(), now, record.seq)
                       for r in turn.replies]
        return TurnCommit(msg.contact_id, conv.version, state, record.seq, drafts, transcript)


def _as_choice(msg: Inbound, state: dict[str, Any]) -> Inbound:
    """A typed "2" (or an offered title) stands for the choice it names on the last screen."""
    if msg.kind != "text" or msg.text is None:
        return msg
    button = typed_choice(state, msg.text)
    if button is None:
        return msg
    return replace(msg, text=None, payload=button.payload, kind="button")


def _is_menu_request(msg: Inbound) -> bool:
    return (msg.text or "").strip().casefold() in {"menu", "меню", "meniu", "мени", "meni"}


def replies_of(items: Sequence[OutboxItem]) -> list[dict[str, Any]]:
    return [{"id": i.id, **i.reply.to_json()} for i in items]
