"""Scenario 4, drift: managed policies deleted (or edited) behind netiso's back.

Repair: delete `netiso-allow-dns-egress` in 1 and in 100 namespaces at once, and edit it in 100,
timed from each request sent to the watch event that shows it back as netiso wrote it.
Report: a second profile with `driftAction: Report`; in each trial one namespace loses the
policy and /metrics is polled every 25 ms until `netiso_policy_drift` shows it. Afterwards the
Report profile is switched to Repair and its namespaces are waited back into sync.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.client import MERGE_PATCH
from bench.percentiles import summarise
from bench.session import Session
from bench.windows import Mark

DRIFTED_POLICY = "netiso-allow-dns-egress"
POLL_SECONDS = 0.025


def _path(namespace: str) -> str:
    return f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies/{DRIFTED_POLICY}"


async def repair(session: Session, *, namespaces: list[str], edit: bool) -> dict[str, Any]:
    """Drift every namespace at once; time until each is repaired."""
    expectation = session.watch.expect(
        session.expected(session.main_profile, namespaces), content=edit
    )
    started: dict[str, float] = {}

    async def drift(namespace: str) -> None:
        started[namespace] = time.monotonic()
        if edit:
            # Someone opens an extra port in netiso's DNS allow: content no longer matches the
            # recorded hash, which stays in place.
            patch = {"spec": {"egress": [{"ports": [{"protocol": "TCP", "port": 5353}]}]}}
            await session.admin.request(
                "PATCH", _path(namespace), body=patch, content_type=MERGE_PATCH
            )
        else:
            await session.admin.request("DELETE", _path(namespace))

    before = await Mark.take(session)
    await asyncio.gather(*(drift(ns) for ns in namespaces))
    complete = await expectation.wait(within=60.0)
    session.watch.forget(expectation)
    after = await Mark.take(session)
    return {
        "namespaces": len(namespaces),
        "action": "edit" if edit else "delete",
        "repaired": len(expectation.done),
        "complete": complete,
        "latency": summarise(expectation.done[ns] - started[ns] for ns in expectation.done),
        # The two halves: request sent -> drift seen in the watch (the API server's share),
        # drift seen -> repair seen (the operator's reaction and its write).
        "drift_seen_latency": summarise(
            expectation.departed[ns] - started[ns] for ns in expectation.departed
        ),
        "repair_after_seen_latency": summarise(
            expectation.done[ns] - expectation.departed[ns]
            for ns in expectation.done
            if ns in expectation.departed
        ),
        "window": before.until(after),
    }


async def report(session: Session) -> dict[str, Any]:
    """Report mode: time from delete sent until the drift gauge shows it on /metrics."""
    trials = session.options.report_trials
    profile = f"{session.prefix}report"
    await session.create_profile(profile, driftAction="Report")
    names = session.namespace_names("report", trials)
    setup = session.watch.expect(session.expected(profile, names))
    await session.create_namespaces(names, kind="report", profile=profile)
    await setup.wait(within=120.0)
    session.watch.forget(setup)
    await session.settle()

    latencies: list[float] = []
    misses: list[str] = []
    for namespace in names:
        key = (
            "netiso_policy_drift",
            tuple(
                sorted(
                    {
                        "namespace": namespace,
                        "profile": profile,
                        "policy": DRIFTED_POLICY,
                        "reason": "missing",
                    }.items()
                )
            ),
        )
        begun = time.monotonic()
        await session.admin.request("DELETE", _path(namespace))
        while time.monotonic() - begun < 10.0:
            if (await session.operator_metrics()).get(key) == 1.0:
                latencies.append(time.monotonic() - begun)
                break
            await asyncio.sleep(POLL_SECONDS)
        else:
            misses.append(namespace)

    # Put the namespaces back in sync so the steady state starts with everything isolated.
    restored = session.watch.expect(session.expected(profile, names))
    await session.patch_profile(profile, {"driftAction": "Repair"})
    back = await restored.wait(within=120.0)
    session.watch.forget(restored)
    return {
        "trials": trials,
        "visible": len(latencies),
        "missed": misses,
        "poll_interval_seconds": POLL_SECONDS,
        "latency": summarise(latencies),
        "restored_after_switch_to_repair": back,
    }


async def run(session: Session) -> dict[str, Any]:
    result: dict[str, Any] = {}
    offset = 0
    for size in session.options.drift_sizes:
        # Different namespaces per round, so one round's repair cannot overlap the next.
        size = min(size, len(session.main_namespaces))
        chosen = session.main_namespaces[offset : offset + size] or session.main_namespaces[:size]
        offset += size
        result[f"repair_delete_{size}"] = await repair(session, namespaces=chosen, edit=False)
        await session.settle()
    size = min(max(session.options.drift_sizes, default=1), len(session.main_namespaces))
    result[f"repair_edit_{size}"] = await repair(
        session, namespaces=session.main_namespaces[-size:], edit=True
    )
    await session.settle()
    if session.options.report_trials > 0:
        result["report"] = await report(session)
    return result
