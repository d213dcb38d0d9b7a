"""Delivers queued replies through each channel's sender, with leases, backoff and jitter.

A reply is claimed under a lease, sent, then marked; if the process dies in between,
the lease lapses and another process sends it. Only the head of each contact's
queue is claimed, so replies reach a contact in the order they were decided.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from datetime import timedelta

from bots.base import Sender, SendResult
from bots.common import remember_offered
from caseline.contact_state import decided_in_turn
from caseline.metrics import Metrics, seconds_since
from caseline.pipeline import Clock, utcnow
from caseline.store.base import ConversationStore, OutboxItem
from caseline.waiting import wait_set

log = logging.getLogger("caseline.outbox")

MAX_ATTEMPTS = 12


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than the platform asked."""
    base = min(60.0, 0.25 * 2 ** max(0, attempts - 1))
    delay = random.uniform(base / 2, base)
    return max(delay, retry_after or 0.0)


class OutboxWorker:
    def __init__(
        self,
        store: ConversationStore,
        senders: dict[str, Sender],
        owner: str,
        *,
        lease_seconds: float = 30.0,
        clock: Clock = utcnow,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.store = store
        # Shared, not copied: platform senders are added after the worker is built.
        self.senders = senders
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock
        self.wakeup = asyncio.Event()
        self.sent_total = 0
        self._handed: set[asyncio.Task[None]] = set()
        self._running = False

    @property
    def taking(self) -> bool:
        return self._running

    def kick(self) -> None:
        self.wakeup.set()

    def take(self, claimed: Sequence[OutboxItem], unclaimed: int) -> None:
        """A turn's commit claimed ``claimed`` for us: send them now, without a claim round.

        ``unclaimed`` of the turn's replies are still queued (behind the claimed one, or
        behind older replies of the contact): the usual claim takes them, woken when the
        claimed ones are done, so a contact's replies keep their order.
        """
        if not claimed:
            if unclaimed:
                self.kick()
            return
        task = asyncio.create_task(self._send_claimed(claimed, unclaimed > 0))
        self._handed.add(task)
        task.add_done_callback(self._handed.discard)

    async def _send_claimed(self, claimed: Sequence[OutboxItem], more: bool) -> None:
        try:
            for item in claimed:
                await self._deliver(item)
        except Exception:  # the store failed: the lease lapses and a later claim retries
            log.exception("sending a claimed reply failed")
        if more:
            self.kick()

    async def close(self) -> None:
        """Let replies being sent finish, so that they are marked (a resend otherwise)."""
        if self._handed:
            await asyncio.wait(self._handed, timeout=10)

    async def run_once(self) -> int:
        """Send every due item once; returns how many were attempted."""
        now = self.clock()
        items = await self.store.claim_outbox(self.owner, now, now + self.lease)
        await asyncio.gather(*(self._deliver(item) for item in items))
        return len(items)

    async def run_forever(self, idle: float = 0.5) -> None:
        self._running = True
        try:
            while True:
                try:
                    attempted = await self.run_once()
                except Exception:
                    log.exception("outbox pass failed")
                    attempted = 0
                if attempted:
                    continue
                self.wakeup.clear()
                await wait_set(self.wakeup, idle)
        finally:
            self._running = False

    async def _deliver(self, item: OutboxItem) -> None:
        sender = self.senders.get(item.channel)
        if sender is None:
            await self.store.complete_outbox(item.id, "failed", f"channel {item.channel} is off")
            return
        try:
            result = await sender.send(item.platform_user_id, item.reply, item.id)
        except Exception as exc:  # a sender bug must not stall the queue
            log.exception("sender %s raised", item.channel)
            result = SendResult.retry(f"{type(exc).__name__}")
        if result.ok:
            self.sent_total += 1
            self.metrics.messages_out.labels(item.channel).inc()
            if item.attempts == 1:
                queued = seconds_since(item.next_attempt_at, self.clock())
                self.metrics.delivery_latency.labels(item.channel).observe(queued)
            # Marked sent first: a crash between the platform's answer and this mark is the one
            # window in which a reply can go out twice, so nothing else may sit inside it.
            await self.store.complete_outbox(item.id, "sent", platform_message_id=result.platform_message_id)
            if decided_in_turn(item.key):
                return  # its turn's commit already recorded the choices it shows
            try:
                await remember_offered(self.store, item.contact_id, item.reply)
            except Exception:  # the reply is out; a stale "2" mapping is not worth a retry
                log.exception("could not remember the choices offered")
        elif result.permanent or item.attempts >= MAX_ATTEMPTS:
            self.metrics.send_failures.labels(item.channel, "permanent").inc()
            log.warning("outbox item %s failed for good: %s", item.id, result.error)
            await self.store.complete_outbox(item.id, "failed", result.error)
        else:
            self.metrics.send_failures.labels(item.channel, "retry").inc()
            delay = backoff_seconds(item.attempts, result.retry_after)
            await self.store.retry_outbox(
                item.id, self.clock() + timedelta(seconds=delay), result.error or "retry"
            )
            self.kick_later(delay)

    def kick_later(self, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self.wakeup.set)
