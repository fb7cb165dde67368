"""Scenario 2b, trickle: namespaces arriving one at a time (default 50, one every 200 ms) while
N others are in sync; latency from create sent to all policies seen, p50/p99 (target p99 < 1 s).

Creates are paced from a fixed schedule and sent without waiting for the previous one, so a
slow answer does not slow the arrival rate. The namespaces use their own profile (same spec),
so the fan-out scenario still touches exactly N namespaces.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.percentiles import summarise
from bench.session import Session
from bench.windows import Mark


async def run(session: Session) -> dict[str, Any]:
    count = session.options.trickle_count
    interval = session.options.trickle_interval
    profile = f"{session.prefix}trickle"
    await session.create_profile(profile)
    names = session.namespace_names("trickle", count)
    expectation = session.watch.expect(session.expected(profile, names))
    started: dict[str, float] = {}

    before = await Mark.take(session)
    begun = time.monotonic()
    creates = []
    for index, name in enumerate(names):
        await asyncio.sleep(max(0.0, begun + index * interval - time.monotonic()))
        creates.append(
            asyncio.create_task(
                session.create_namespace(name, kind="trickle", profile=profile, started=started)
            )
        )
    await asyncio.gather(*creates)
    complete = await expectation.wait(within=60.0)
    session.watch.forget(expectation)
    after = await Mark.take(session)
    return {
        "namespaces": count,
        "interval_seconds": interval,
        "isolated": len(expectation.done),
        "complete": complete,
        "latency": summarise(expectation.done[ns] - started[ns] for ns in expectation.done),
        "window": before.until(after),
    }
