"""The planner: keeps each active enrolment's next check-in scheduled as durable jobs, and runs them.

For an occurrence (a local wall time from the enrolment's schedule) it schedules three jobs
in the shared job store, keyed so re-planning is free:

* ``reminder:<enrolment>:<occurrence>`` at the occurrence: opens the check-in window, sends
  the "Start check-in" reminder and plans the next occurrence;
* ``followup:<enrolment>:<occurrence>`` at 75% of the window: a nudge if not checked in yet;
* ``close:<enrolment>:<occurrence>`` at the window's end: no check-in means "missed", a kind
  word to the young person and one alert (a low case, medium after three in a row) for the officer.

When the plan changes (pause, resume, new schedule) the enrolment's ``revision`` goes up and
is appended to new keys (``#r<n>``): a cancelled key can never be scheduled again, a new one can.

Handlers run at least once (see :mod:`caseline.scheduler`); each effect is idempotent: the
outbox ignores a key it has seen (``job:<id>``), windows are inserted once, and the alert is
fenced by ``mark_missed`` / ``alerted``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from caseline.messages import Button, Reply
from caseline.ports import Escalation
from caseline.schedule_rules import Occurrence, Window
from caseline.store.base import ConversationStore, OutboxDraft, TranscriptDraft
from caseline.store.jobs_base import Job, JobStore, NewJob
from casework.probation.model import CheckinWindow, Enrolment
from casework.probation.ports import ProbationStore
from casework.probation.texts import say

log = logging.getLogger("caseline.probation")

REMINDER, FOLLOWUP, CLOSE = "probation_reminder", "probation_followup", "probation_close"
KINDS = {REMINDER: "reminder", FOLLOWUP: "followup", CLOSE: "close"}
CHECKIN_PAYLOAD = "probation.checkin"
FOLLOWUP_FRACTION = 0.75
MEDIUM_AFTER_MISSED = 3
# WhatsApp sends its approved outside-window template for any reply when the 24 h window has
# passed (bots/whatsapp.py); the meta names the template a reminder should use once the
# connector supports choosing one.
REMINDER_TEMPLATE = "caseline_checkin_reminder"

Clock = Callable[[], datetime]
Alert = Callable[[Escalation], Awaitable[str]]


def job_key(kind: str, enrolment: Enrolment, occ_key: str) -> str:
    base = f"{KINDS[kind]}:{enrolment.id}:{occ_key}"
    return base if enrolment.revision == 0 else f"{base}#r{enrolment.revision}"


def local_text(instant: datetime, zone: str) -> str:
    return f"{instant.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}"


class Planner:
    def __init__(
        self,
        store: ProbationStore,
        jobs: JobStore,
        conversations: ConversationStore,
        alert: Alert,
        clock: Clock,
        kick: Callable[[], None],
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.conversations = conversations
        self.alert = alert
        self.clock = clock
        self.kick = kick

    @property
    def handlers(self) -> dict[str, Callable[[Job], Awaitable[None]]]:
        return {REMINDER: self.on_reminder, FOLLOWUP: self.on_followup, CLOSE: self.on_close}

    # -- planning --------------------------------------------------------------------------
    def window_of(self, enrolment: Enrolment, occ: Occurrence) -> Window:
        return Window.after(occ, timedelta(minutes=enrolment.window_minutes))

    def next_occurrence(self, enrolment: Enrolment, after: datetime) -> Occurrence | None:
        return enrolment.schedule.rule().next_after(after)

    async def plan(self, enrolment: Enrolment, after: datetime) -> Occurrence | None:
        """Schedule the first occurrence strictly after ``after``; idempotent."""
        if enrolment.status != "active" or not enrolment.linked:
            return None
        occ = self.next_occurrence(enrolment, after)
        if occ is None:
            return None
        window = self.window_of(enrolment, occ)
        data: dict[str, Any] = {
            "enrolment": enrolment.id, "occ": occ.key, "revision": enrolment.revision,
            "opens": window.opens.isoformat(), "closes": window.closes.isoformat(),
        }
        await self.jobs.schedule(NewJob(REMINDER, job_key(REMINDER, enrolment, occ.key), occ.at, data))
        await self.jobs.schedule(
            NewJob(FOLLOWUP, job_key(FOLLOWUP, enrolment, occ.key), window.follow_up(FOLLOWUP_FRACTION), data)
        )
        await self.jobs.schedule(NewJob(CLOSE, job_key(CLOSE, enrolment, occ.key), window.closes, data))
        return occ

    async def cancel(self, enrolment_id: str) -> int:
        now = self.clock()
        return sum([await self.jobs.cancel_prefix(f"{k}:{enrolment_id}:", now) for k in KINDS.values()])

    async def replan(self, enrolment: Enrolment) -> Occurrence | None:
        """After a change: cancel what was planned, keep any open window's close, plan afresh."""
        await self.cancel(enrolment.id)
        now = self.clock()
        current = await self.store.window_at(enrolment.id, now)
        if current is not None and current.status == "open" and enrolment.status == "active":
            data = {"enrolment": enrolment.id, "occ": current.occ_key, "revision": enrolment.revision,
                    "opens": current.opens_at.isoformat(), "closes": current.closes_at.isoformat()}
            await self.jobs.schedule(NewJob(CLOSE, job_key(CLOSE, enrolment, current.occ_key), current.closes_at,
                                            data))
        return await self.plan(enrolment, now)

    def _catch_up_from(self, enrolment: Enrolment, opens: datetime) -> datetime:
        """Plan after this occurrence, but skip ones whose whole window passed while we were down."""
        return max(opens, self.clock() - timedelta(minutes=enrolment.window_minutes))

    # -- handlers ----------------------------------------------------------------------------
    async def _current(self, job: Job) -> tuple[Enrolment, CheckinWindow] | None:
        enrolment = await self.store.get_enrolment(str(job.data["enrolment"]))
        if enrolment is None or enrolment.status != "active" or not enrolment.linked:
            return None
        if int(job.data.get("revision", 0)) != enrolment.revision:
            return None  # planned under an older plan; the new plan has its own jobs
        window = await self.store.open_window(CheckinWindow(
            enrolment.id, str(job.data["occ"]), datetime.fromisoformat(str(job.data["opens"])),
            datetime.fromisoformat(str(job.data["closes"])),
        ))
        return enrolment, window

    async def on_reminder(self, job: Job) -> None:
        found = await self._current(job)
        if found is None:
            return
        enrolment, window = found
        await self.plan(enrolment, self._catch_up_from(enrolment, window.opens_at))
        if window.status == "open" and self.clock() < window.closes_at:
            lang = enrolment.lang or "en"
            reply = Reply(
                say("reminder", lang), buttons=(Button(CHECKIN_PAYLOAD, say("start_button", lang)),),
                meta={"template": REMINDER_TEMPLATE},
            )
            await self._send(enrolment, job, reply)

    async def on_followup(self, job: Job) -> None:
        found = await self._current(job)
        if found is None:
            return
        enrolment, window = found
        if window.status == "open" and self.clock() < window.closes_at:
            lang = enrolment.lang or "en"
            reply = Reply(
                say("followup", lang, closes=local_text(window.closes_at, enrolment.schedule.zone)),
                buttons=(Button(CHECKIN_PAYLOAD, say("start_button", lang)),),
                meta={"template": REMINDER_TEMPLATE},
            )
            await self._send(enrolment, job, reply)

    async def on_close(self, job: Job) -> None:
        found = await self._current(job)
        if found is None:
            return
        enrolment, window = found
        await self.store.mark_missed(enrolment.id, window.occ_key)
        window = await self.store.get_window(enrolment.id, window.occ_key) or window
        nxt = await self.plan(enrolment, self._catch_up_from(enrolment, window.opens_at))
        if window.status != "missed" or window.alerted:
            return
        lang = enrolment.lang or "en"
        upcoming = local_text(nxt.at, enrolment.schedule.zone) if nxt else "-"
        await self._send(enrolment, job, Reply(say("missed", lang, next=upcoming)))
        streak = await self.missed_streak(enrolment.id)
        assert enrolment.contact_id is not None and enrolment.channel is not None
        await self.alert(Escalation(
            contact_id=enrolment.contact_id, channel=enrolment.channel,
            severity="medium" if streak >= MEDIUM_AFTER_MISSED else "low", categories=("probation",),
            reason="probation_missed", inbound_seq=None, lang=lang,
            rules=(f"probation.missed:{enrolment.id}:{window.occ_key}",),
        ))
        await self.store.mark_alerted(enrolment.id, window.occ_key)
        log.info("probation check-in missed", extra={"streak": streak})

    async def missed_streak(self, enrolment_id: str) -> int:
        streak = 0
        for window in reversed(await self.store.windows(enrolment_id, limit=50)):
            if window.status == "missed":
                streak += 1
            elif window.status == "checked_in":
                break
        return streak

    async def _send(self, enrolment: Enrolment, job: Job, reply: Reply) -> None:
        assert enrolment.contact_id is not None
        conv = await self.conversations.load_conversation(enrolment.contact_id)
        if conv is None or conv.state.get("opted_out"):
            return
        await self.conversations.enqueue(
            [OutboxDraft(f"job:{job.id}", enrolment.contact_id, conv.channel, conv.platform_user_id, reply)],
            [TranscriptDraft(enrolment.contact_id, "out", "bot", reply.as_text(), self.clock())],
        )
        self.kick()
