"""Memory per 10,000 active conversations, on the embedded store.

Conversation state lives in the store, not in process memory, so the process should
not grow with the number of conversations. This drives N contacts through the real
pipeline (web chat sessions, two messages each) and reports the resident-set growth.

    python bench/bench_memory.py [--contacts 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from caseline.app import build_services
from caseline.identity import contact_id
from caseline.messages import Inbound
from caseline.settings import load_settings


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(contacts: int, store: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), secret_key="b" * 40, store=store)
        services = await build_services(settings)
        pipeline = services.pipeline
        await pipeline.submit(_msg(settings.secret_key, "warmup", "hi"))
        before = rss_mb()
        start = time.perf_counter()
        for i in range(contacts):
            user = f"user-{i}"
            for text in ("hi", "my son has tantrums every evening"):
                await pipeline.submit(_msg(settings.secret_key, user, text))
        elapsed = time.perf_counter() - start
        after = rss_mb()
        await services.store.close()
    print(f"store: {store}")
    print(f"contacts: {contacts}, messages: {2 * contacts}, time: {elapsed:.1f}s "
          f"({2 * contacts / elapsed:.0f} msg/s through the pipeline, in-process)")
    print(f"RSS before: {before:.1f} MB, after: {after:.1f} MB, growth: {after - before:.1f} MB")
    print(f"memory per 10,000 active conversations: {(after - before) * 10_000 / contacts:.1f} MB")


def _msg(key: str, user: str, text: str) -> Inbound:
    return Inbound(
        channel="webchat", platform_user_id=user, contact_id=contact_id(key, "webchat", user),
        platform_message_id=uuid.uuid4().hex, received_at=datetime.now(UTC), text=text,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--store", default="sqlite")
    args = parser.parse_args()
    asyncio.run(main(args.contacts, args.store))
