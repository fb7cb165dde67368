"""Scenario failover: a warm standby next to the leader with N in sync, then two hand-overs.

1. Steady state of two replicas: writes of each (must be 0) and their Lease requests, counted
   apart (a leader renews once per retry period; a standby only reads).
2. kill -9 of the leader: seconds from the signal until the standby leads and until its first
   write (namespaces opted in once the old process is gone give it work).
3. SIGTERM of the new leader next to a fresh standby: the same two times; the Lease is
   released, so the hand-over takes about one retry period instead of the lease duration.
The session carries on with the last leader. The defaults (15/10/2 s) are used throughout.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from bench.session import QUIET_SECONDS, Session
from bench.windows import Mark
from netiso_devkit.harness import OperatorProcess, parse_metrics

# Namespaces opted in during each hand-over: work only the new leader can do.
HAND_OVER_NAMESPACES = 20


def _counts(operator: OperatorProcess) -> tuple[float, float, dict[str, float]]:
    """(leader gauge, work writes, lease requests by verb) of one replica, now."""
    metrics = parse_metrics(operator.metrics_text())
    leader = writes = 0.0
    leases: dict[str, float] = {}
    for (name, labels), value in metrics.items():
        verb = dict(labels).get("verb", "")
        if name == "netiso_leader":
            leader = value
        elif name == "netiso_api_requests_total" and verb not in ("get", "list", "watch"):
            writes += value
        elif name == "netiso_lease_requests_total":
            leases[verb] = leases.get(verb, 0.0) + value
    return leader, writes, leases


async def _counts_of(operator: OperatorProcess) -> tuple[float, float, dict[str, float]]:
    return await asyncio.to_thread(_counts, operator)


async def _standby(session: Session, lease: str) -> OperatorProcess:
    operator = session.new_operator(lease=lease)
    await asyncio.to_thread(
        operator.start, wait_ready=True, timeout=max(120.0, session.options.n * 0.2)
    )
    return operator


async def _steady(
    session: Session, replicas: list[OperatorProcess], *, seconds: float
) -> dict[str, Any]:
    await session.settle(quiet=QUIET_SECONDS)
    before = [await _counts_of(op) for op in replicas]
    server_before = await Mark.take(session, operator=False)
    await asyncio.sleep(seconds)
    server_after = await Mark.take(session, operator=False)
    after = [await _counts_of(op) for op in replicas]
    out: dict[str, Any] = {"seconds": seconds, "replicas": []}
    for (leader, writes, leases), (_, writes_after, leases_after) in zip(
        before, after, strict=True
    ):
        out["replicas"].append(
            {
                "leader": bool(leader),
                "netiso_writes": int(writes_after - writes),
                "lease_requests_by_verb": {
                    verb: int(count - leases.get(verb, 0.0))
                    for verb, count in sorted(leases_after.items())
                    if count - leases.get(verb, 0.0)
                },
            }
        )
    window = server_before.until(server_after)
    out["apiserver_writes"] = window.get("apiserver_writes")
    return out


async def _hand_over(
    session: Session, *, old: OperatorProcess, new: OperatorProcess, sig: signal.Signals, label: str
) -> dict[str, Any]:
    profile = session.main_profile
    names = session.namespace_names(f"failover-{label}", HAND_OVER_NAMESPACES)
    expectation = session.watch.expect(session.expected(profile, names))
    _, baseline, _ = await _counts_of(new)
    assert old.process is not None
    signalled = time.monotonic()
    os.killpg(old.process.pid, sig)
    code = await asyncio.to_thread(old.process.wait, 60)
    exited = time.monotonic() - signalled
    creating = asyncio.create_task(
        session.create_namespaces(names, kind="failover", profile=profile)
    )
    leading = first_write = None
    deadline = signalled + 120.0
    while time.monotonic() < deadline and (leading is None or first_write is None):
        leader, writes, _ = await _counts_of(new)
        now = time.monotonic() - signalled
        if leading is None and leader == 1.0:
            leading = now
        if first_write is None and writes > baseline:
            first_write = now
        await asyncio.sleep(0.02)
    await creating
    complete = await expectation.wait(within=120.0)
    session.watch.forget(expectation)
    return {
        "signal": sig.name,
        "exit_code": code,
        "old_exited_seconds": round(exited, 3),
        "new_leader_seconds": None if leading is None else round(leading, 3),
        "first_write_seconds": None if first_write is None else round(first_write, 3),
        "namespaces_opted_in_after_exit": HAND_OVER_NAMESPACES,
        "isolated": len(expectation.done),
        "complete": complete,
    }


async def run(session: Session) -> dict[str, Any]:
    await session.settle(quiet=QUIET_SECONDS)
    first = session.running_operator
    lease = first.extra_env["NETISO_LEASE_NAME"]
    second = await _standby(session, lease)
    result: dict[str, Any] = {
        "steady_two_replicas": await _steady(
            session, [first, second], seconds=session.options.failover_steady_seconds
        ),
        "sigkill": await _hand_over(
            session, old=first, new=second, sig=signal.SIGKILL, label="kill"
        ),
    }
    session.operator_exit_codes.append(result["sigkill"]["exit_code"])
    session.operator = second
    third = await _standby(session, lease)
    result["sigterm"] = await _hand_over(
        session, old=second, new=third, sig=signal.SIGTERM, label="term"
    )
    session.operator_exit_codes.append(result["sigterm"]["exit_code"])
    session.operator = third
    return result
