"""One enforcement probe round against the API server: place, wait, observe, conclude, clean.

Probing layer (API I/O through runtime/). `run_round` is what both the operator's prober and
`netiso probe` run: it removes what an earlier, interrupted round of the profile left, places
the target and the control target, asks the engine that the live policies forbid the one and
admit the other, runs the one-shot source (twice when the forbidden connection got through,
since a plugin may take a moment to program a new pod), and always deletes its pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any, Final

from netiso.model.enforcement import (
    Connection,
    EnforcementProbe,
    EnforcementState,
    ProbeReason,
    ProbeVerdict,
    conclude,
    needs_confirmation,
)
from netiso.probing.podspecs import (
    CONTROL,
    TARGET,
    Owner,
    connections,
    expectations,
    pod_name,
    probe_selector,
    running_address,
    server_pod,
    source_pod,
    waiting_reasons,
)
from netiso.reachability.addresses import parse_address
from netiso.reachability.policies import Policy, parse_network_policy
from netiso.reachability.workloads import Namespace, Pod, parse_namespace
from netiso.runtime.client import ApiClient, ApiError
from netiso.runtime.reading import list_all, policy_path

log = logging.getLogger(__name__)

ALL_PODS: Final = "/api/v1/pods"
_POLL_SECONDS: Final = 0.5
# Between a first source that got through and the second one.
SETTLE_SECONDS: Final = 2.0


def pods_path(namespace: str, name: str | None = None) -> str:
    """REST path of a namespace's pods, or of one of them."""
    base = f"/api/v1/namespaces/{namespace}/pods"
    return f"{base}/{name}" if name else base


@dataclass(frozen=True)
class RoundPlan:
    """What one round probes: the profile's `namespace` (opted in) from `source_namespace`."""

    owner: Owner
    probe: EnforcementProbe
    namespace: str
    source_namespace: str
    # How long pods may take to run (an image pull on a cold node) before it is inconclusive.
    ready_seconds: float = 120.0


Sleep = Callable[[float], Awaitable[None]]


async def sweep(api: ApiClient, *, profile: str | None = None) -> int:
    """Delete every probe pod (of `profile`, or of all profiles) wherever it runs: what a round
    interrupted by a crash left. Returns how many were deleted."""
    deleted = 0
    async for pod in list_all(api, ALL_PODS, label_selector=probe_selector(profile)):
        metadata = pod.get("metadata") or {}
        await _delete(api, namespace=str(metadata.get("namespace")), name=str(metadata["name"]))
        deleted += 1
    return deleted


async def _delete(api: ApiClient, *, namespace: str, name: str) -> None:
    await api.request(
        "DELETE",
        pods_path(namespace, name),
        verb="delete",
        body={"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0},
        allow_statuses=frozenset({HTTPStatus.NOT_FOUND}),
    )


async def run_round(
    api: ApiClient, plan: RoundPlan, *, sleep: Sleep = asyncio.sleep
) -> ProbeVerdict:
    """One round for `plan`; never raises an ApiError (it becomes an `unavailable` verdict)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    created: list[tuple[str, str]] = []
    try:
        verdict = await _round(api, plan, created=created, sleep=sleep)
    except ApiError as error:
        verdict = _api_verdict(error)
    finally:
        for namespace, name in created:
            with contextlib.suppress(ApiError):
                await _delete(api, namespace=namespace, name=name)
    return replace(verdict, namespace=plan.namespace, seconds=round(loop.time() - started, 2))


def _api_verdict(error: ApiError) -> ProbeVerdict:
    if error.status == HTTPStatus.FORBIDDEN:
        return ProbeVerdict(
            EnforcementState.UNAVAILABLE,
            ProbeReason.NOT_PERMITTED,
            "netiso may not run probe pods (install the enforcement-probe RBAC: the kustomize "
            f"component components/enforcement-probe, docs/runbook.md): {error}",
        )
    return ProbeVerdict(
        EnforcementState.UNAVAILABLE, ProbeReason.API_ERROR, f"the probe round failed: {error}"
    )


async def _create(api: ApiClient, body: dict[str, Any], created: list[tuple[str, str]]) -> None:
    metadata = body["metadata"]
    await api.request("POST", pods_path(metadata["namespace"]), verb="create", body=body)
    created.append((metadata["namespace"], metadata["name"]))


async def _round(
    api: ApiClient, plan: RoundPlan, *, created: list[tuple[str, str]], sleep: Sleep
) -> ProbeVerdict:
    loop = asyncio.get_running_loop()
    await sweep(api, profile=plan.owner.name)
    target_name, control_name = pod_name(TARGET), pod_name(CONTROL)
    target_body = server_pod(
        name=target_name, namespace=plan.namespace, role=TARGET, owner=plan.owner, probe=plan.probe
    )
    control_body = server_pod(
        name=control_name,
        namespace=plan.source_namespace,
        role=CONTROL,
        owner=plan.owner,
        probe=plan.probe,
    )
    await _create(api, target_body, created)
    await _create(api, control_body, created)
    deadline = loop.time() + plan.ready_seconds
    servers = await _wait_running(
        api, [(plan.namespace, target_name), (plan.source_namespace, control_name)],
        deadline=deadline, sleep=sleep,
    )  # fmt: skip
    if isinstance(servers, ProbeVerdict):
        return servers
    target_ip, control_ip = servers
    target_pod = _as_pod(target_body, target_ip)
    control_pod = _as_pod(control_body, control_ip)
    source_name = pod_name("source")
    source_body = source_pod(
        name=source_name,
        namespace=plan.source_namespace,
        owner=plan.owner,
        probe=plan.probe,
        target_ip=target_ip,
        control_ip=control_ip,
    )
    expected = expectations(
        namespaces=await _namespaces(api, plan.namespace, plan.source_namespace),
        policies=await _policies(api, plan.namespace, plan.source_namespace),
        target=target_pod,
        control=control_pod,
        source=_as_pod(source_body, None),
        port=plan.probe.port,
    )
    target = f"namespace {plan.namespace}"
    if not expected.forbidden_denied:
        return ProbeVerdict(
            EnforcementState.UNAVAILABLE,
            ProbeReason.NOTHING_FORBIDDEN,
            f"nothing to test: the policies of {target} admit a pod of {plan.source_namespace} "
            f"on TCP {plan.probe.port} ({expected.forbidden_why})",
        )
    if not expected.control_allowed:
        return ProbeVerdict(
            EnforcementState.UNAVAILABLE,
            ProbeReason.CONTROL_ISOLATED,
            f"the control connection within {plan.source_namespace} is not open "
            f"({expected.control_why}): run the probe from a namespace no policy isolates",
        )
    seen = await _run_source(api, source_body, created=created, deadline=deadline, sleep=sleep)
    if isinstance(seen, ProbeVerdict):
        return seen
    if needs_confirmation(forbidden=seen["forbidden"], control=seen["control"]):
        await _delete(api, namespace=plan.source_namespace, name=source_name)
        await sleep(SETTLE_SECONDS)
        again = {**source_body, "metadata": {**source_body["metadata"], "name": pod_name("source")}}
        seen = await _run_source(
            api, again, created=created, deadline=loop.time() + plan.ready_seconds, sleep=sleep
        )
        if isinstance(seen, ProbeVerdict):
            return seen
    return conclude(forbidden=seen["forbidden"], control=seen["control"], target=target)


async def _run_source(
    api: ApiClient,
    body: dict[str, Any],
    *,
    created: list[tuple[str, str]],
    deadline: float,
    sleep: Sleep,
) -> dict[str, Connection] | ProbeVerdict:
    await _create(api, body, created)
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    loop = asyncio.get_running_loop()
    while True:
        _, pod = await api.request("GET", pods_path(namespace, name), verb="get")
        seen = connections(pod)
        if seen is not None:
            return seen
        if loop.time() > deadline:
            return _not_ready([pod])
        await sleep(_POLL_SECONDS)


async def _wait_running(
    api: ApiClient, pods: list[tuple[str, str]], *, deadline: float, sleep: Sleep
) -> tuple[str, str] | ProbeVerdict:
    loop = asyncio.get_running_loop()
    while True:
        bodies = [
            (await api.request("GET", pods_path(namespace, name), verb="get"))[1]
            for namespace, name in pods
        ]
        addresses = [running_address(body) for body in bodies]
        if all(addresses):
            return str(addresses[0]), str(addresses[1])
        if loop.time() > deadline:
            return _not_ready(bodies)
        await sleep(_POLL_SECONDS)


def _not_ready(bodies: list[dict[str, Any]]) -> ProbeVerdict:
    reasons = "; ".join(waiting_reasons(bodies)) or "still starting"
    return ProbeVerdict(
        EnforcementState.INCONCLUSIVE,
        ProbeReason.PODS_NOT_READY,
        f"the probe pods did not run in time ({reasons})",
    )


def _as_pod(body: Mapping[str, Any], address: str | None) -> Pod:
    metadata = body["metadata"]
    ip = parse_address(address) if address else None
    return Pod(
        namespace=metadata["namespace"],
        name=metadata["name"],
        labels=dict(metadata["labels"]),
        ips=(ip,) if ip is not None else (),
    )


async def _namespaces(api: ApiClient, *names: str) -> list[Namespace]:
    # A list filtered by name, not a get: the operator's RBAC lists namespaces, never gets one.
    found: list[Namespace] = []
    for name in dict.fromkeys(names):
        _, payload = await api.request(
            "GET",
            "/api/v1/namespaces",
            verb="list",
            params={"fieldSelector": f"metadata.name={name}"},
        )
        found.extend(parse_namespace(body) for body in payload.get("items") or [])
    return found


async def _policies(api: ApiClient, *namespaces: str) -> list[Policy]:
    policies: list[Policy] = []
    for namespace in dict.fromkeys(namespaces):
        async for body in list_all(api, policy_path(namespace)):
            policies.append(parse_network_policy(body, default_namespace=namespace))
    return policies
