"""Scenario 5, steady state: everything in sync, nothing changing, for a while (default 5 min).

Counts what netiso does when there is nothing to do: writes (must be 0), from netiso's own
counter and from the API server's apiserver_request_total on networkpolicies, isolationprofiles,
events and namespaces (the benchmark sends nothing during the window, so these are netiso's,
or another controller's, never the benchmark's); reads per minute; operator CPU.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.session import QUIET_SECONDS, Session
from bench.windows import Mark


async def run(session: Session) -> dict[str, Any]:
    settled = await session.settle(quiet=QUIET_SECONDS)
    before = await Mark.take(session)
    await asyncio.sleep(session.options.steady_seconds)
    after = await Mark.take(session)
    window = before.until(after)
    minutes = window["seconds"] / 60
    reads = sum(
        count
        for verb, count in window.get("netiso_requests_by_verb", {}).items()
        if verb in ("get", "list", "watch")
    )
    result: dict[str, Any] = {
        "settled_before": settled,
        "seconds": window["seconds"],
        "in_sync": session.watch.count_matching(
            session.expected(session.main_profile, session.main_namespaces)
        ),
        "netiso_writes": window.get("netiso_writes"),
        "apiserver_writes": window.get("apiserver_writes"),
        "netiso_reads_per_minute": round(reads / minutes, 2),
        "apiserver_reads_per_minute": (
            round(window["apiserver_reads"] / minutes, 2) if "apiserver_reads" in window else None
        ),
        "window": window,
    }
    return result
