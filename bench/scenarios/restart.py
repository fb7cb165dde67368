"""Scenario 6, restart: stop the operator with N in sync (SIGTERM, then SIGKILL) and start it
again; time until /readyz answers 200 and count the writes it made (must be 0, both counters).

The window for writes runs from before the stop until `restart_settle` seconds after ready, so
anything the dying or the new process wrote is counted by the API server's counters.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from bench.profiling import Recording
from bench.session import QUIET_SECONDS, Session
from bench.windows import Mark


async def restart(session: Session, sig: signal.Signals) -> dict[str, Any]:
    await session.settle(quiet=QUIET_SECONDS)
    before = await Mark.take(session, operator=False)
    code, stop_seconds = await session.stop_operator(sig)
    recordings: list[Recording] = []

    def profile(pid: int) -> None:
        # `--profile restart` samples the new process from its first moment: start-up with N
        # namespaces already in sync is what this scenario is about.
        if "restart" in session.options.profile:
            out = session.logs / f"profile-restart-{sig.name.lower()}.txt"
            recordings.append(Recording(pid=pid, out=out))

    ready_seconds = await session.start_operator(
        ready_within=_ready_within(session), on_started=profile
    )
    profiled = [recording.stop() for recording in recordings]
    fresh = await Mark.take(session)  # the new process's counters start at zero
    await asyncio.sleep(session.options.restart_settle)
    after = await Mark.take(session)
    window = before.until(after)
    process_window = fresh.until(after)
    requests = session.api_requests(after.metrics or {})
    return {
        "signal": sig.name,
        "exit_code": code,
        "stop_seconds": round(stop_seconds, 3),
        # None: not ready within `ready_within_seconds` (the process is still measured).
        "ready_seconds": None if ready_seconds is None else round(ready_seconds, 3),
        "ready_within_seconds": _ready_within(session),
        # The new process's whole life so far: startup lists, watches and any write.
        "netiso_writes": session.writes(requests),
        "netiso_requests_by_verb": {v: int(n) for v, n in sorted(requests.items())},
        "apiserver_writes": window.get("apiserver_writes"),
        "apiserver_writes_by_verb": window.get("apiserver_writes_by_verb"),
        "operator_rss_mib": process_window.get("operator_rss_mib"),
        "in_sync": session.watch.count_matching(
            session.expected(session.main_profile, session.main_namespaces)
        ),
        **({"profile": profiled[0]} if profiled else {}),
    }


def _ready_within(session: Session) -> float:
    # Generous: readiness after a restart is what this scenario measures, slow or not.
    given = session.options.restart_ready_within
    return given if given is not None else min(1800.0, max(600.0, session.options.n * 0.6))


async def run(session: Session) -> dict[str, Any]:
    result = {"sigterm": await restart(session, signal.SIGTERM)}
    if result["sigterm"]["ready_seconds"] is None:
        # Not ready within the limit: a second restart would only repeat that, for as long.
        result["sigkill"] = {"skipped": "the SIGTERM restart did not become ready"}
    else:
        result["sigkill"] = await restart(session, signal.SIGKILL)
    return result
