"""The case desk: everything that happens to a case, with its permission check and audit.

The pipeline's gateway, the JSON API and the console all call this class, so the
role and team rules are enforced once, on the server, for every route. Refusals are
audited too. A case in another team answers "not found", so ids can't be probed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from caseline.messages import MAX_TEXT_CHARS, Reply
from caseline.pipeline import Clock
from caseline.ports import Escalation
from caseline.store.base import ConversationStore, OutboxDraft, TranscriptDraft, TranscriptEntry
from casework.access import allowed, holds, in_teams
from casework.audit import Auditor
from casework.config import CaseworkConfig
from casework.errors import BadInput, Conflict, Forbidden, NotFound
from casework.live import ConsoleHub
from casework.model import HANDLED, STATUSES, Case, NewCase, Note, Trigger, User, severity_rank
from casework.ports import CaseStore

log = logging.getLogger("caseline.casework")
HEARTBEAT_EVERY = timedelta(seconds=20)
MAX_NOTE_CHARS = 4000
OUTCOMES = ("support_given", "referred", "reported", "no_contact", "duplicate", "other")


def clean_text(value: object, field: str, limit: int = MAX_TEXT_CHARS) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"'{field}' must be a non-empty string")
    if len(value) > limit:
        raise BadInput(f"'{field}' is longer than {limit} characters")
    return value.strip()


class Desk:
    def __init__(
        self,
        store: CaseStore,
        config: CaseworkConfig,
        conversations: ConversationStore,
        auditor: Auditor,
        hub: ConsoleHub,
        clock: Clock,
        kick: Callable[[], None],
        responder: object | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.conversations = conversations
        self.audit = auditor
        self.hub = hub
        self.clock = clock
        self.kick = kick
        self.responder = responder

    # -- from the pipeline -------------------------------------------------------------
    async def escalate(self, esc: Escalation) -> str:
        now = self.clock()
        sla = self.config.sla_for(esc.severity)
        new = NewCase(
            f"case_{uuid.uuid4().hex[:20]}",
            esc.contact_id,
            esc.channel,
            self.config.team_for(esc.channel, esc.country),
            esc.severity,
            esc.categories,
            esc.reason,
            esc.lang,
            esc.country,
            now,
            now + sla if sla else None,
        )
        case, created = await self.store.escalate(
            new, Trigger(esc.inbound_seq, esc.rules, esc.reason, esc.severity, now)
        )
        await self._tighten_sla(case)
        if created:
            await self.audit.record(
                "system", "case.open", case.id, severity=case.severity, reason=esc.reason, team=case.team
            )
        self.hub.publish(case.team, {"type": "queue", "case_id": case.id})
        if case.status == "waiting":
            await self._tell_if_nobody_on_duty(case, now)
        return case.id

    async def _tighten_sla(self, case: Case) -> None:
        """A raised severity can only bring the deadline forward."""
        sla = self.config.sla_for(case.severity)
        if sla is None or case.first_response_at is not None:
            return
        due = case.opened_at + sla
        if case.sla_due is None or due < case.sla_due:
            await self.store.set_sla_due(case.id, due)

    async def contact_wrote(self, case_id: str, contact_id: str) -> None:
        case = await self.store.get(case_id)
        if case is None:
            return
        await self.store.set_status(case_id, "claimed", only_from=("awaiting_user",))
        self.hub.publish(case.team, {"type": "message", "case_id": case_id})

    async def on_duty(self, team: str, now: datetime) -> bool:
        hours = self.config.hours
        if hours is not None and not hours.is_open(now):
            return False
        return await self.store.active_workers(team, now - self.config.active_within) > 0

    def _when(self, case: Case, now: datetime) -> str:
        hours = self.config.hours
        if hours is not None and not hours.is_open(now):
            opening = hours.next_opening(now)
            return f"after our team starts at {opening:%H:%M} on {opening:%A}"
        return "as soon as someone from our team is back online"

    async def _tell_if_nobody_on_duty(self, case: Case, now: datetime) -> None:
        if await self.on_duty(case.team, now):
            return
        if not await self.store.claim_alert(case.id, "no_worker", "contact", now):
            return
        when = self._when(case, now)
        make = getattr(self.responder, "no_worker_message", None)
        text = (
            make(case.lang, case.country, when)
            if callable(make)
            else (
                f"Nobody from our team is online right now. A person will read your messages {when}. "
                "If you need to talk to someone now, call the child helpline 116 111 (free). "
                "If you are in danger, call 112."
            )
        )
        reply = text if isinstance(text, Reply) else Reply(str(text))
        await self._send(case, reply, "system", f"case:{case.id}:no-worker")
        await self.audit.record("system", "case.no_worker_notice", case.id)

    async def _send(self, case: Case, reply: Reply, author: str, key: str) -> None:
        conv = await self.conversations.load_conversation(case.contact_id)
        if conv is None:
            raise NotFound("the contact's conversation is gone")
        await self.conversations.enqueue(
            [OutboxDraft(key, case.contact_id, case.channel, conv.platform_user_id, reply)],
            [TranscriptDraft(case.contact_id, "out", author, reply.as_text(), self.clock())],
        )
        self.kick()

    # -- permission checks ---------------------------------------------------------------
    async def _deny(self, actor: User, action: str, target: str, error: Exception) -> Exception:
        await self.audit.record(actor.username, action, target, "denied", role=actor.role)
        return error

    async def _case(self, actor: User, case_id: str, permission: str, action: str) -> Case:
        if not allowed(actor, permission):
            raise await self._deny(actor, action, case_id, Forbidden(f"your role may not {permission}"))
        case = await self.store.get(case_id)
        if case is None or not in_teams(actor, case):
            raise await self._deny(actor, action, case_id, NotFound("no such case"))
        return case

    async def require(self, actor: User, permission: str, action: str) -> None:
        if not allowed(actor, permission):
            raise await self._deny(actor, action, "", Forbidden(f"your role may not {permission}"))

    async def _held(self, actor: User, case: Case, action: str) -> None:
        if case.status == "resolved":
            raise Conflict("the case is resolved")
        if not holds(actor, case):
            raise await self._deny(actor, action, case.id, Forbidden("claim the case first"))

    # -- the worker's actions ------------------------------------------------------------
    async def heartbeat(self, actor: User, *, force: bool = False) -> None:
        now = self.clock()
        if not force and actor.last_seen_at is not None and now - actor.last_seen_at < HEARTBEAT_EVERY:
            return
        await self.store.update_user(actor.username, last_seen_at=now)
        await self.store.renew_leases(actor.username, now + self.config.lease)

    async def queue(self, actor: User, status: str | None = None) -> list[Case]:
        await self.require(actor, "case.read", "case.list")
        if status is not None and status not in STATUSES and status != "open":
            raise BadInput(f"status must be one of open, {', '.join(STATUSES)}")
        statuses = ["waiting", *HANDLED] if status in (None, "open") else [status]
        return await self.store.list_cases(actor.teams, statuses)

    async def view(self, actor: User, case_id: str) -> tuple[Case, list[TranscriptEntry]]:
        """A case with the contact's whole transcript, from before it opened; audited."""
        case = await self._case(actor, case_id, "case.read", "case.view")
        transcript = await self.conversations.transcript(case.contact_id, 0, 2000)
        await self.audit.record(actor.username, "case.view", case.id)
        return case, transcript

    async def claim(self, actor: User, case_id: str) -> Case:
        await self._case(actor, case_id, "case.claim", "case.claim")
        now = self.clock()
        case = await self.store.claim(case_id, actor.username, now, now + self.config.lease)
        if case is None:
            await self.audit.record(actor.username, "case.claim", case_id, "failed", reason="taken")
            raise Conflict("someone else has claimed this case")
        await self.audit.record(actor.username, "case.claim", case_id)
        self.hub.publish(case.team, {"type": "queue", "case_id": case_id})
        return case

    async def claim_next(self, actor: User) -> Case | None:
        await self.require(actor, "case.claim", "case.claim_next")
        now = self.clock()
        case = await self.store.claim_next(actor.teams, actor.username, now, now + self.config.lease)
        if case is not None:
            await self.audit.record(actor.username, "case.claim", case.id, next=True)
            self.hub.publish(case.team, {"type": "queue", "case_id": case.id})
        return case

    async def reply(self, actor: User, case_id: str, text: object) -> None:
        case = await self._case(actor, case_id, "case.reply", "case.reply")
        body = clean_text(text, "text")
        if case.status not in HANDLED or case.assignee != actor.username:
            raise await self._deny(actor, "case.reply", case_id, Forbidden("claim the case before replying"))
        await self._send(
            case, Reply(body), f"worker:{actor.username}", f"case:{case_id}:w:{uuid.uuid4().hex}"
        )
        await self.store.record_reply(case_id, actor.username, self.clock())
        await self.audit.record(actor.username, "case.reply", case_id, chars=len(body))
        self.hub.publish(case.team, {"type": "case", "case_id": case_id})

    async def note(self, actor: User, case_id: str, text: object) -> None:
        await self._case(actor, case_id, "case.note", "case.note")
        body = clean_text(text, "text", MAX_NOTE_CHARS)
        await self.store.add_note(case_id, Note(actor.username, body, self.clock()))
        await self.audit.record(actor.username, "case.note", case_id)

    async def refer(self, actor: User, case_id: str, service: object, text: object = None) -> None:
        await self._case(actor, case_id, "case.refer", "case.refer")
        known = {r.id: r for r in self.config.referrals}
        if not isinstance(service, str) or service not in known:
            raise BadInput(f"'service' must be one of {', '.join(known)}")
        detail = clean_text(text, "note", MAX_NOTE_CHARS) if text else ""
        line = f"{known[service].name}" + (f": {detail}" if detail else "")
        await self.store.add_note(case_id, Note(actor.username, line, self.clock(), "referral"))
        await self.audit.record(actor.username, "case.refer", case_id, service=service)

    async def transfer(
        self, actor: User, case_id: str, to_user: object = None, to_team: object = None
    ) -> Case:
        case = await self._case(actor, case_id, "case.transfer", "case.transfer")
        if (to_user is None) == (to_team is None):
            raise BadInput("give exactly one of 'to_user' or 'to_team'")
        target = await self._transfer_target(actor, case, to_user, to_team)
        await self._held(actor, case, "case.transfer")
        now = self.clock()
        moved = await self.store.transfer(
            case_id,
            to_user=to_user if isinstance(to_user, str) else None,
            to_team=to_team if isinstance(to_team, str) else None,
            now=now,
            lease_until=now + self.config.lease,
        )
        if moved is None:
            raise Conflict("the case is no longer open")
        await self.audit.record(actor.username, "case.transfer", case_id, to=target)
        for team in {case.team, moved.team}:
            self.hub.publish(team, {"type": "queue", "case_id": case_id})
        return moved

    async def _transfer_target(self, actor: User, case: Case, to_user: object, to_team: object) -> str:
        if isinstance(to_team, str):
            if to_team not in self.config.teams:
                raise BadInput(f"'to_team' must be one of {', '.join(self.config.teams)}")
            return f"team:{to_team}"
        colleague = await self.store.get_user(to_user) if isinstance(to_user, str) else None
        if (
            colleague is None
            or colleague.disabled
            or case.team not in colleague.teams
            or not allowed(colleague, "case.reply")
        ):
            raise BadInput("'to_user' must be an active case worker of the case's team")
        return f"user:{colleague.username}"

    async def resolve(self, actor: User, case_id: str, outcome: object) -> Case:
        case = await self._case(actor, case_id, "case.resolve", "case.resolve")
        if outcome not in OUTCOMES:
            raise BadInput(f"'outcome' must be one of {', '.join(OUTCOMES)}")
        await self._held(actor, case, "case.resolve")
        done = await self.store.resolve(case_id, str(outcome), self.clock())
        if done is None:
            raise Conflict("the case is already resolved")
        await self._send(done, Reply(self.config.closing_text(done.lang)), "system", f"case:{case_id}:closed")
        await self.conversations.update_state(done.contact_id, {"safety_mode": 0, "flow": None})
        await self.audit.record(actor.username, "case.resolve", case_id, outcome=str(outcome))
        self.hub.publish(done.team, {"type": "queue", "case_id": case_id})
        return done

    async def export(self, actor: User, case_id: str) -> dict[str, Any]:
        case = await self._case(actor, case_id, "case.export", "case.export")
        transcript = await self.conversations.transcript(case.contact_id, 0, 5000)
        await self.audit.record(actor.username, "case.export", case_id)
        return {"case": case.to_json(), "transcript": [transcript_json(t) for t in transcript]}

    async def dashboard_cases(self, actor: User, since: datetime) -> list[Case]:
        await self.require(actor, "dashboard.read", "dashboard.view")
        return await self.store.list_cases(actor.teams, None, since=since, limit=5000)

    def queue_rank(self, case: Case) -> tuple[int, datetime]:
        return (-severity_rank(case.severity), case.opened_at)


def transcript_json(entry: TranscriptEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "direction": entry.direction,
        "author": entry.author,
        "text": entry.text,
        "at": entry.at.isoformat(),
    }
