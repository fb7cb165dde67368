"""Scenario sharded: N namespaces bootstrapped by `--shards` replicas, one shard each.

The run's single operator is stopped first (it would write the same namespaces); S replicas
start with NETISO_SHARDS=S and NETISO_MAX_SHARDS_PER_REPLICA=1 behind one set of Leases, and N
labelled namespaces of a new profile are created as fast as the admin client can. Reported: the
time until every one carries its policies (watch), each replica's shard, namespaces reconciled
and CPU seconds, AlreadyExists races (must be 0: one writer per namespace), and the merged
profile status. On 2 cores expect no speed-up; the point is correctness and the cost per shard.
The single operator is started again afterwards for the rest of the run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.processes import sample
from bench.scenarios.bootstrap import isolation_figures
from bench.session import PROFILES_PATH, Session
from netiso_devkit.harness import OperatorProcess, parse_metrics


def _replica(operator: OperatorProcess) -> dict[str, Any]:
    metrics = parse_metrics(operator.metrics_text())
    shards = [
        dict(labels)["shard"]
        for (name, labels), value in metrics.items()
        if name == "netiso_shard_leader" and value == 1.0
    ]
    reconciles = sum(v for (n, _), v in metrics.items() if n == "netiso_reconcile_total")
    raced = sum(
        v
        for (n, labels), v in metrics.items()
        if n == "netiso_api_requests_total" and dict(labels) == {"verb": "create", "code": "409"}
    )
    return {"shards": shards, "reconciles": int(reconciles), "create_conflicts": int(raced)}


async def run(session: Session) -> dict[str, Any]:
    count = session.options.shards
    if session.operator is not None:
        await session.stop_operator()
    lease = f"netiso-bench-{session.run_id}-sharded"
    env = {"NETISO_SHARDS": str(count), "NETISO_MAX_SHARDS_PER_REPLICA": "1"}
    replicas = [session.new_operator(lease=lease, **env) for _ in range(count)]
    try:
        for operator in replicas:
            await asyncio.to_thread(operator.start, wait_ready=True, timeout=600.0)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            led = [await asyncio.to_thread(_replica, op) for op in replicas]
            if sorted(len(r["shards"]) for r in led) == [1] * count:
                break
            await asyncio.sleep(0.5)
        cpu_before = [sample(op.process.pid).cpu_seconds for op in replicas if op.process]
        n = session.options.n
        profile = f"{session.prefix}sharded"
        await session.create_profile(profile)
        names = session.namespace_names("sharded", n)
        expectation = session.watch.expect(session.expected(profile, names))
        begun = time.monotonic()
        create_seconds = await session.create_namespaces(names, kind="sharded", profile=profile)
        complete = await expectation.wait(within=max(120.0, n * 0.5))
        session.watch.forget(expectation)
        finished = max(expectation.done.values(), default=time.monotonic())
        status: dict[str, Any] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            _, body = await session.admin.request("GET", f"{PROFILES_PATH}/{profile}")
            status = body.get("status") or {}
            if status.get("namespaces") == n and status.get("inSync") == n:
                break
            await asyncio.sleep(1.0)
        cpu_after = [sample(op.process.pid).cpu_seconds for op in replicas if op.process]
        per_replica = [await asyncio.to_thread(_replica, op) for op in replicas]
        for entry, before, after in zip(per_replica, cpu_before, cpu_after, strict=True):
            entry["cpu_seconds"] = round(after - before, 2)
        return {
            "shards": count,
            **isolation_figures(
                n=n,
                done=len(expectation.done),
                complete=complete,
                seconds=finished - begun,
                create_seconds=create_seconds,
            ),
            "replicas": per_replica,
            "status_namespaces": status.get("namespaces"),
            "status_in_sync": status.get("inSync"),
        }
    finally:
        for operator in replicas:
            session.operator_exit_codes.append(await asyncio.to_thread(operator.stop))
        await session.start_operator()
