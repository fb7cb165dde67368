"""Scenario 2, bootstrap: N labelled namespaces created as fast as the admin client can, timed
until every one of them carries all its policies (seen in the watch).

Per-namespace latency runs from the moment its create request is sent to the watch event that
completed its policy set. The total runs from the first create to the last completion, so it
includes creating the namespaces; `namespace_create_seconds` says how much of it that was.
"""

from __future__ import annotations

import time
from typing import Any

from bench.percentiles import summarise
from bench.session import Session
from bench.windows import Mark


def isolation_figures(
    *, n: int, done: int, complete: bool, seconds: float, create_seconds: float
) -> dict[str, Any]:
    """How a bootstrap of `n` namespaces went: isolated, time, rate, time spent creating."""
    return {
        "namespaces": n,
        "isolated": done,
        "complete": complete,
        "seconds": round(seconds, 3),
        "namespaces_per_second": round(done / seconds, 1),
        "namespace_create_seconds": round(create_seconds, 3),
    }


async def run(session: Session) -> dict[str, Any]:
    n = session.options.n
    profile = f"{session.prefix}main"
    await session.create_profile(profile)
    names = session.namespace_names("main", n)
    session.main_profile = profile
    session.main_namespaces = names
    expectation = session.watch.expect(session.expected(profile, names))
    started: dict[str, float] = {}

    before = await Mark.take(session)
    begun = time.monotonic()
    create_seconds = await session.create_namespaces(
        names, kind="main", profile=profile, started=started
    )
    complete = await expectation.wait(within=max(120.0, n * 0.5))
    session.watch.forget(expectation)
    finished = max(expectation.done.values(), default=time.monotonic())
    after = await Mark.take(session)

    seconds = finished - begun
    result: dict[str, Any] = {
        **isolation_figures(
            n=n,
            done=len(expectation.done),
            complete=complete,
            seconds=seconds,
            create_seconds=create_seconds,
        ),
        # After the last create returned: how far the operator trailed the creations.
        "tail_seconds": round(max(0.0, finished - begun - create_seconds), 3),
        "latency": summarise(expectation.done[ns] - started[ns] for ns in expectation.done),
        "window": before.until(after),
    }
    raw = session.results.get("raw")
    if raw:
        result["ratio_to_raw"] = round(seconds / raw["seconds"], 2)
        result["ratio_to_raw_plus_create"] = round(
            seconds / max(raw["seconds"], raw["namespace_create_seconds"]), 2
        )
    return result
