"""Background loops stop when cancelled, even if a wake-up lands in the same instant.

CI once hung for 90 minutes: on Python 3.11 ``asyncio.wait_for`` swallowed a cancellation
that coincided with the outbox being kicked, so the outbox loop never ended and shutdown
awaited it forever.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from caseline.app import stop_tasks
from caseline.outbox import OutboxWorker
from caseline.waiting import wait_set


class IdleStore:
    """Just enough of a store for an outbox with nothing to send."""

    async def claim_outbox(self, *_args: Any) -> list[Any]:
        return []


@pytest.mark.parametrize("iterations_between", [0, 1, 2, 3])
async def test_the_outbox_loop_stops_when_cancelled_as_it_is_kicked(iterations_between: int) -> None:
    worker = OutboxWorker(IdleStore(), {}, "test")  # type: ignore[arg-type]
    for _ in range(5):
        task = asyncio.create_task(worker.run_forever(idle=5.0))
        await asyncio.sleep(0.01)
        worker.kick()
        for _ in range(iterations_between):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=2.0)
        assert task in done and task.cancelled()


async def test_wait_set_reports_whether_the_event_fired() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_set(event, 5.0) is True


async def test_a_task_that_ignores_cancellation_cannot_hang_shutdown(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    await stop_tasks([task], grace=0.1)
    assert "stubborn" in caplog.text and not task.done()
    release.set()
    task.cancel()
    await asyncio.wait([task], timeout=1.0)
    assert task.done()
