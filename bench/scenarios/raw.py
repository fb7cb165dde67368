"""Scenario 1, the raw bound: the writes netiso makes, sent by a minimal client as fast as this
machine allows, into N pre-created unlabelled namespaces.

The same verbs netiso sends: a POST (create) of each of the four rendered policies per
namespace, then a conditional PUT (replace, with the resourceVersion the create returned) of
one changed policy per namespace (gateway gains a port: the ceiling for the fan-out scenario).
Both passes are measured at each of `--raw-concurrencies` namespaces in flight, in the same
run, and the fastest concurrency of each is the bound; between trials the policies are removed.
Last, the N namespaces get a label netiso does not read, as the opt-in scenario labels them
(`--create-concurrency` at a time): what the opt-in's trigger alone costs the API server.

Runs while the operator is stopped (the policies carry netiso's managed-by label, which a
running netiso would prune in namespaces that did not opt in). Within a namespace the four
creates go out together (netiso orders the default-deny after its allows, one extra round trip:
that ordering is part of what the ratio measures). Afterwards the namespaces stay, unlabelled,
for the opt-in bootstrap (scenario `optin`) and the run's cleanup.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.client import MERGE_PATCH, bounded
from bench.session import Session
from bench.watching import MANAGED_SELECTOR
from bench.windows import Mark
from netiso import conventions
from netiso.rendering.bodies import RenderedPolicy

EXTRA_GATEWAY_PORT = {"protocol": "TCP", "port": 9443}
# The label of the label trial: not netiso's, so no operator would react to it.
LABEL_TRIAL = "bench.netiso.io/label-trial"


def gateway_with_extra_port(session: Session, profile: str) -> dict[str, Any]:
    """The profile's gateway section plus one port: the edit fan-out (and its bound) makes."""
    gateway = dict(session.profiles[profile]["spec"]["gateway"])
    gateway["ports"] = [*gateway["ports"], EXTRA_GATEWAY_PORT]
    return gateway


def _path(namespace: str, name: str = "") -> str:
    base = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies"
    return f"{base}/{name}" if name else base


async def create(session: Session, policy: RenderedPolicy) -> str:
    """POST one policy as netiso creates it; returns the new object's resourceVersion."""
    _, created = await session.admin.request(
        "POST",
        _path(policy.namespace),
        params={"fieldManager": conventions.FIELD_MANAGER},
        body=policy.body,
    )
    return str(created["metadata"]["resourceVersion"])


async def replace(session: Session, policy: RenderedPolicy, *, resource_version: str) -> None:
    """PUT the whole object as netiso replaces it: conditional on `resource_version`."""
    body = {**policy.body, "metadata": {**policy.body["metadata"]}}
    body["metadata"]["resourceVersion"] = resource_version
    await session.admin.request(
        "PUT",
        _path(policy.namespace, policy.name),
        params={"fieldManager": conventions.FIELD_MANAGER},
        body=body,
    )


async def _trial(
    session: Session,
    *,
    concurrency: int,
    rendered: list[tuple[RenderedPolicy, ...]],
    changed: list[RenderedPolicy],
) -> dict[str, Any]:
    """Create every policy, then replace the changed one per namespace, `concurrency`
    namespaces at a time; then remove them again (not timed)."""
    versions: dict[str, str] = {}

    async def create_namespace(group: tuple[RenderedPolicy, ...]) -> None:
        created = await asyncio.gather(*(create(session, policy) for policy in group))
        for policy, version in zip(group, created, strict=True):
            versions[f"{policy.namespace}/{policy.name}"] = version

    before = await Mark.take(session, operator=False)
    begun = time.monotonic()
    await bounded(concurrency, [create_namespace(group) for group in rendered])
    create_seconds = time.monotonic() - begun
    after = await Mark.take(session, operator=False)

    begun = time.monotonic()
    await bounded(
        concurrency,
        [
            replace(session, p, resource_version=versions[f"{p.namespace}/{p.name}"])
            for p in changed
        ],
    )
    replace_seconds = time.monotonic() - begun

    # The policies carry netiso's label: remove them before the operator starts, or it would
    # list them and prune them (writes in the bootstrap window).
    await bounded(
        concurrency,
        [
            session.admin.request("DELETE", _path(ns), params={"labelSelector": MANAGED_SELECTOR})
            for ns in {group[0].namespace for group in rendered}
        ],
    )
    policies = sum(len(group) for group in rendered)
    return {
        "concurrency": concurrency,
        "create_seconds": round(create_seconds, 3),
        "create_policies_per_second": round(policies / create_seconds, 1),
        "replace_one_seconds": round(replace_seconds, 3),
        "window": before.until(after),
    }


async def _label_trial(session: Session, names: list[str]) -> dict[str, Any]:
    """Label the namespaces as the opt-in does, with a label nobody watches for; then remove
    it again (not timed). Returns the seconds and the window."""

    def body(value: str | None) -> dict[str, Any]:
        return {"metadata": {"labels": {LABEL_TRIAL: value}}}

    async def label(value: str | None) -> None:
        await bounded(
            session.options.create_concurrency,
            [
                session.admin.request(
                    "PATCH",
                    f"/api/v1/namespaces/{name}",
                    body=body(value),
                    content_type=MERGE_PATCH,
                )
                for name in names
            ],
        )

    before = await Mark.take(session, operator=False)
    begun = time.monotonic()
    await label("1")
    seconds = time.monotonic() - begun
    after = await Mark.take(session, operator=False)
    await label(None)
    return {"seconds": round(seconds, 3), "window": before.until(after)}


async def run(session: Session) -> dict[str, Any]:
    n = session.options.n
    names = session.namespace_names("raw", n)
    profile = f"{session.prefix}raw"
    # Rendered only, never created: the raw bound does not involve netiso at all.
    session.profiles[profile] = session.profile_body(profile)
    create_seconds = await session.create_namespaces(names, kind="raw", profile=None)
    session.raw_namespaces = names
    rendered = [session.render(profile, ns) for ns in names]
    body = session.profile_body(profile)
    body["spec"]["gateway"] = gateway_with_extra_port(session, profile)
    changed = [
        policy
        for ns in names
        for policy in session.render(profile, ns, body)
        if "gateway" in policy.name
    ]
    retries_before = session.admin.retries

    trials = []
    for concurrency in session.options.raw_concurrencies:
        trials.append(
            await _trial(session, concurrency=concurrency, rendered=rendered, changed=changed)
        )
    labelled = await _label_trial(session, names)
    best_create = min(trials, key=lambda t: t["create_seconds"])
    best_replace = min(trials, key=lambda t: t["replace_one_seconds"])
    policies = sum(len(group) for group in rendered)
    return {
        "namespaces": n,
        "policies": policies,
        "verbs": "POST (create) x 4 per namespace; PUT (replace, with resourceVersion) x 1",
        "seconds": best_create["create_seconds"],
        "concurrency": best_create["concurrency"],
        "policies_per_second": round(policies / best_create["create_seconds"], 1),
        "namespaces_per_second": round(n / best_create["create_seconds"], 1),
        "apply_one_seconds": best_replace["replace_one_seconds"],
        "apply_one_concurrency": best_replace["concurrency"],
        "apply_one_per_second": round(n / best_replace["replace_one_seconds"], 1),
        "namespace_create_seconds": round(create_seconds, 3),
        "namespace_create_per_second": round(n / create_seconds, 1),
        "namespace_label_seconds": labelled["seconds"],
        "namespace_label_window": labelled["window"],
        "trials": [{k: v for k, v in t.items() if k != "window"} for t in trials],
        "client_retries": session.admin.retries - retries_before,
        "window": best_create["window"],
    }
