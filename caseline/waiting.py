"""Waiting on an event with a time limit, safely cancellable.

Python 3.11's ``asyncio.wait_for`` can swallow a cancellation that arrives in the same loop
iteration as the awaited event fires (CPython gh-86296, fixed in 3.12). A background loop
that waits that way may then never stop: shutdown hung forever in CI because of it.
``asyncio.timeout`` counts cancellations and re-raises them, so every wait here uses it.
"""

from __future__ import annotations

import asyncio


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass; true if it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True
