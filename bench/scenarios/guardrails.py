"""Scenario guardrails: namespace owners' own NetworkPolicies next to netiso's, at scale.

Every isolated namespace gets `--foreign-policies` policies of its own (default 2): an
application allow that keeps to the guardrails, and an allow-all under the exception
annotation (admitted, evaluated, counted), then more application allows if asked. Timed from
the first create until the operator counts every exception on /metrics; the window says what
the operator wrote meanwhile (no NetworkPolicy: netiso never touches a foreign one; one
GuardrailException Event per namespace). Then, one trial namespace at a time, a policy that
opens egress to the whole internet: time until `netiso_guardrail_violations` shows it, and
until it is gone after the policy is deleted. The foreign policies stay for steady and restart.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any

from bench.client import bounded
from bench.percentiles import summarise
from bench.session import Metrics, Session
from bench.windows import Mark

POLL_SECONDS = 0.025
EXCEPTION_ANNOTATION = "netiso.io/exception"


def _path(namespace: str, name: str | None = None) -> str:
    base = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies"
    return f"{base}/{name}" if name else base


def _policy(name: str, spec: dict[str, Any], annotations: dict[str, str] | None = None) -> Any:
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata,
        "spec": {"podSelector": {"matchLabels": {"app": "web"}}, **spec},
    }


def foreign_policies(count: int) -> list[Any]:
    """The namespace owner's own policies: one excepted allow-all, then application allows."""
    excepted = _policy(
        "allow-load-test",
        {"policyTypes": ["Ingress"], "ingress": [{}]},
        {EXCEPTION_ANNOTATION: "BENCH-1 load test"},
    )
    allows = [
        _policy(
            f"allow-web-{index}",
            {
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": {"app": f"client-{index}"}}}],
                        "ports": [{"protocol": "TCP", "port": 8080 + index}],
                    }
                ],
            },
        )
        for index in range(max(count - 1, 0))
    ]
    return ([excepted] if count else []) + allows


OPEN_EGRESS = _policy(
    "open-egress",
    {
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                "ports": [{"protocol": "TCP", "port": 443}],
            }
        ],
    },
)


def _total(metrics: Metrics, name: str, **match: str) -> float:
    return sum(
        value
        for (sample, labels), value in metrics.items()
        if sample == name and all(dict(labels).get(k) == v for k, v in match.items())
    )


def _shows(key: tuple[str, tuple[tuple[str, str], ...]], metrics: Metrics) -> bool:
    return metrics.get(key) == 1.0


def _lacks(key: tuple[str, tuple[tuple[str, str], ...]], metrics: Metrics) -> bool:
    return key not in metrics


async def _poll(session: Session, done: Callable[[Metrics], bool], *, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if done(await session.operator_metrics()):
            return True
        await asyncio.sleep(POLL_SECONDS)
    return False


async def populate(session: Session) -> dict[str, Any]:
    """Create the foreign policies in every namespace; time until the operator counted them."""
    count = session.options.foreign_policies
    namespaces = session.main_namespaces
    profile = session.main_profile
    bodies = foreign_policies(count)
    before = await Mark.take(session)
    begun = time.monotonic()
    await bounded(
        session.options.create_concurrency,
        [
            session.admin.request("POST", _path(namespace), body=body)
            for namespace in namespaces
            for body in bodies
        ],
    )
    created = time.monotonic() - begun
    expected = len(namespaces) if count else 0

    def counted(metrics: Metrics) -> bool:
        excepted = _total(metrics, "netiso_guardrail_exceptions", profile=profile, rule="no-peers")
        return excepted == expected

    complete = await _poll(session, counted, within=max(120.0, len(namespaces) * 0.2))
    seconds = time.monotonic() - begun
    await session.settle()
    after = await Mark.take(session)
    return {
        "namespaces": len(namespaces),
        "policies": len(namespaces) * len(bodies),
        "create_seconds": round(created, 3),
        "seconds_until_counted": round(seconds, 3),
        "complete": complete,
        "window": before.until(after),
    }


async def report(session: Session) -> dict[str, Any]:
    """One namespace at a time: an internet-wide egress appears, then goes."""
    profile = session.main_profile
    trials = session.main_namespaces[: session.options.report_trials]
    shown: list[float] = []
    cleared: list[float] = []
    missed: list[str] = []
    for namespace in trials:
        key = (
            "netiso_guardrail_violations",
            (("namespace", namespace), ("profile", profile), ("rule", "broad-cidr")),
        )
        begun = time.monotonic()
        await session.admin.request("POST", _path(namespace), body=OPEN_EGRESS)
        if await _poll(session, functools.partial(_shows, key), within=10.0):
            shown.append(time.monotonic() - begun)
        else:
            missed.append(namespace)
        begun = time.monotonic()
        await session.admin.request("DELETE", _path(namespace, "open-egress"))
        if await _poll(session, functools.partial(_lacks, key), within=10.0):
            cleared.append(time.monotonic() - begun)
        else:
            missed.append(namespace)
    return {
        "trials": len(trials),
        "visible": len(shown),
        "missed": missed,
        "poll_interval_seconds": POLL_SECONDS,
        "latency_shown": summarise(shown),
        "latency_cleared": summarise(cleared),
    }


async def run(session: Session) -> dict[str, Any]:
    result: dict[str, Any] = {"foreign_per_namespace": session.options.foreign_policies}
    result["populate"] = await populate(session)
    if session.options.report_trials > 0:
        result["report"] = await report(session)
    await session.settle()
    return result
