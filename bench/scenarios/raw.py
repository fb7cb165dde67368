"""Scenario 1, the raw bound: the same four rendered policies per namespace, server-side applied
by a minimal client as fast as it can, into N pre-created unlabelled namespaces.

Runs while the operator is stopped (the policies carry netiso's managed-by label, which a
running netiso would prune in namespaces that did not opt in). `concurrency` namespaces are in
flight at once, as NETISO_MAX_CONCURRENCY bounds the operator; within a namespace the four
applies go out together (netiso orders the default-deny after its allows, one extra round trip:
that ordering is part of what the ratio measures). A second pass applies one changed policy per
namespace (gateway gains a port): the ceiling for the fan-out scenario. Afterwards the
policies are removed and the namespaces stay, unlabelled, until the run's cleanup.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.client import APPLY_PATCH, bounded
from bench.session import Session
from bench.watching import MANAGED_SELECTOR
from bench.windows import Mark
from netiso import conventions
from netiso.rendering.bodies import RenderedPolicy

EXTRA_GATEWAY_PORT = {"protocol": "TCP", "port": 9443}


def gateway_with_extra_port(session: Session, profile: str) -> dict[str, Any]:
    """The profile's gateway section plus one port: the edit fan-out (and its bound) makes."""
    gateway = dict(session.profiles[profile]["spec"]["gateway"])
    gateway["ports"] = [*gateway["ports"], EXTRA_GATEWAY_PORT]
    return gateway


async def apply(session: Session, policy: RenderedPolicy) -> None:
    path = f"/apis/networking.k8s.io/v1/namespaces/{policy.namespace}/networkpolicies/{policy.name}"
    await session.admin.request(
        "PATCH",
        path,
        params={"fieldManager": conventions.FIELD_MANAGER, "force": "true"},
        body=policy.body,
        content_type=APPLY_PATCH,
    )


async def apply_all(session: Session, policies: list[tuple[RenderedPolicy, ...]]) -> float:
    """Apply each namespace's policies, `concurrency` namespaces at a time; seconds taken."""

    async def namespace(group: tuple[RenderedPolicy, ...]) -> None:
        await asyncio.gather(*(apply(session, policy) for policy in group))

    begun = time.monotonic()
    await bounded(session.options.concurrency, [namespace(group) for group in policies])
    return time.monotonic() - begun


async def run(session: Session) -> dict[str, Any]:
    n = session.options.n
    names = session.namespace_names("raw", n)
    profile = f"{session.prefix}raw"
    # Rendered only, never created: the raw bound does not involve netiso at all.
    session.profiles[profile] = session.profile_body(profile)
    create_seconds = await session.create_namespaces(names, kind="raw", profile=None)
    rendered = [session.render(profile, ns) for ns in names]
    retries_before = session.admin.retries

    before = await Mark.take(session, operator=False)
    apply_seconds = await apply_all(session, rendered)
    after = await Mark.take(session, operator=False)

    changed = session.profile_body(profile)
    changed["spec"]["gateway"] = gateway_with_extra_port(session, profile)
    gateways = [
        tuple(p for p in session.render(profile, ns, changed) if "gateway" in p.name)
        for ns in names
    ]
    one_seconds = await apply_all(session, gateways)

    policies = sum(len(group) for group in rendered)
    # The policies carry netiso's label: remove them before the operator starts, or it would
    # list them and prune them (writes in the bootstrap window). The empty namespaces stay
    # until cleanup: deleting 1,000 namespaces keeps the namespace controller busy for minutes
    # on this machine, which would compete with every scenario after this one.
    begun = time.monotonic()
    await bounded(
        session.options.concurrency,
        [
            session.admin.request(
                "DELETE",
                f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
                params={"labelSelector": MANAGED_SELECTOR},
            )
            for ns in names
        ],
    )
    remove_seconds = time.monotonic() - begun
    return {
        "namespaces": n,
        "policies": policies,
        "seconds": round(apply_seconds, 3),
        "policies_per_second": round(policies / apply_seconds, 1),
        "namespaces_per_second": round(n / apply_seconds, 1),
        "apply_one_seconds": round(one_seconds, 3),
        "apply_one_per_second": round(n / one_seconds, 1),
        "namespace_create_seconds": round(create_seconds, 3),
        "namespace_create_per_second": round(n / create_seconds, 1),
        "policy_remove_seconds": round(remove_seconds, 3),
        "client_retries": session.admin.retries - retries_before,
        "window": before.until(after),
    }
