"""One probe round against the in-memory API server, with a fake kubelet that runs the pods
and a fake network that enforces or not: the verdicts, the engine's say before any packet,
and the cleanup (every pod deleted, leftovers of an interrupted round swept first)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from netiso import conventions
from netiso.model.enforcement import EnforcementProbe, EnforcementState, ProbeReason
from netiso.probing.podspecs import PROBE_LABEL, PROBE_PROFILE_LABEL, Owner
from netiso.probing.rounds import RoundPlan, pods_path, run_round, sweep
from netiso.runtime.reading import policy_path
from tests.unit.apiserver import FakeApiServer
from tests.unit.hermetic import namespace_body

pytestmark = pytest.mark.looptime

NAMESPACES = "/api/v1/namespaces"
PLAN = RoundPlan(
    owner=Owner("base", "uid-1"),
    probe=EnforcementProbe(enabled=True),
    namespace="team-a",
    source_namespace="netiso-system",
    ready_seconds=30,
)
DEFAULT_DENY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "netiso-default-deny", "namespace": "team-a"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}


@dataclass
class Network:
    """What the fake packets do: whether policies are enforced, whether the control works."""

    enforcing: bool = True
    control_works: bool = True
    runs_pods: bool = True


def probe_pods(server: FakeApiServer) -> list[dict[str, Any]]:
    return [
        pod
        for namespace in ("team-a", "netiso-system", "elsewhere")
        for pod in server.items(pods_path(namespace))
    ]


async def kubelet(server: FakeApiServer, network: Network) -> None:
    """Runs every pod it sees: servers become Ready with an IP, a source's two containers
    terminate with what the network lets through."""
    addresses: dict[str, str] = {}
    while True:
        for pod in probe_pods(server):
            name = pod["metadata"]["name"]
            if pod.get("status") or not network.runs_pods:
                continue
            role = pod["metadata"]["labels"][PROBE_LABEL]
            addresses.setdefault(name, f"10.244.0.{len(addresses) + 10}")
            if role == "source":
                states = {
                    "forbidden": not network.enforcing,
                    "control": network.control_works,
                }
                statuses = [
                    {
                        "name": container,
                        "state": {
                            "terminated": {
                                "exitCode": 0 if connected else 1,
                                "message": "" if connected else "REFUSED\n",
                            }
                        },
                    }
                    for container, connected in states.items()
                ]
                status = {
                    "phase": "Failed",
                    "podIP": addresses[name],
                    "containerStatuses": statuses,
                }
            else:
                status = {
                    "phase": "Running",
                    "podIP": addresses[name],
                    "containerStatuses": [{"name": "server", "ready": True}],
                }
            server.put(pods_path(pod["metadata"]["namespace"]), {**pod, "status": status})
        await asyncio.sleep(0.3)


@contextlib.asynccontextmanager
async def cluster(network: Network) -> AsyncIterator[FakeApiServer]:
    server = FakeApiServer()
    server.put(NAMESPACES, namespace_body("team-a", profile="base"))
    server.put(NAMESPACES, namespace_body("netiso-system", profile=None))
    server.put(policy_path("team-a"), DEFAULT_DENY)
    task = asyncio.create_task(kubelet(server, network))
    try:
        yield server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def created(server: FakeApiServer, role: str) -> list[dict[str, Any]]:
    return [
        sent.body
        for sent in server.writes("create")
        if sent.body["metadata"]["labels"][PROBE_LABEL] == role
    ]


async def test_a_blocked_forbidden_connection_and_an_open_control_say_enforced() -> None:
    async with cluster(Network()) as server:
        verdict = await run_round(server.client(), PLAN)
        assert (verdict.state, verdict.reason) == (EnforcementState.ENFORCED, ProbeReason.ENFORCED)
        assert verdict.namespace == "team-a"
        assert len(created(server, "source")) == 1
        assert probe_pods(server) == []


async def test_an_open_forbidden_connection_seen_twice_says_not_enforced() -> None:
    async with cluster(Network(enforcing=False)) as server:
        verdict = await run_round(server.client(), PLAN)
        assert verdict.state == EnforcementState.NOT_ENFORCED
        # Confirmed by a second source, started after the first was deleted.
        assert len(created(server, "source")) == 2
        assert probe_pods(server) == []


async def test_a_failed_control_is_inconclusive_whatever_the_forbidden_connection_did() -> None:
    async with cluster(Network(enforcing=False, control_works=False)) as server:
        verdict = await run_round(server.client(), PLAN)
        assert (verdict.state, verdict.reason) == (
            EnforcementState.INCONCLUSIVE,
            ProbeReason.CONTROL_FAILED,
        )
        assert probe_pods(server) == []


async def test_pods_that_never_run_are_inconclusive_and_still_deleted() -> None:
    async with cluster(Network(runs_pods=False)) as server:
        verdict = await run_round(server.client(), PLAN)
        assert (verdict.state, verdict.reason) == (
            EnforcementState.INCONCLUSIVE,
            ProbeReason.PODS_NOT_READY,
        )
        assert probe_pods(server) == []


async def test_a_namespace_its_owner_opened_is_not_reported_as_not_enforced() -> None:
    allow_all = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-everything", "namespace": "team-a"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]},
    }
    async with cluster(Network(enforcing=False)) as server:
        server.put(policy_path("team-a"), allow_all)
        verdict = await run_round(server.client(), PLAN)
        assert (verdict.state, verdict.reason) == (
            EnforcementState.UNAVAILABLE,
            ProbeReason.NOTHING_FORBIDDEN,
        )
        # Nothing was tried: no source ran.
        assert created(server, "source") == []
        assert probe_pods(server) == []


async def test_an_isolated_source_namespace_cannot_serve_as_the_control() -> None:
    async with cluster(Network()) as server:
        server.put(policy_path("netiso-system"), {**DEFAULT_DENY, "metadata": {
            "name": "deny", "namespace": "netiso-system"}})  # fmt: skip
        verdict = await run_round(server.client(), PLAN)
        assert verdict.reason == ProbeReason.CONTROL_ISOLATED
        assert probe_pods(server) == []


async def test_without_the_rbac_the_round_says_so_instead_of_failing() -> None:
    async with cluster(Network()) as server:
        server.fail("POST", pods_path("team-a"), status=403, reason="Forbidden", times=5)
        verdict = await run_round(server.client(), PLAN)
        assert (verdict.state, verdict.reason) == (
            EnforcementState.UNAVAILABLE,
            ProbeReason.NOT_PERMITTED,
        )
        assert "components/enforcement-probe" in verdict.message


async def test_a_round_first_sweeps_what_an_interrupted_round_of_its_profile_left() -> None:
    leftover = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "netiso-probe-target-dead",
            "labels": {PROBE_LABEL: "target", PROBE_PROFILE_LABEL: "base"},
        },
    }
    labels = {PROBE_LABEL: "target", PROBE_PROFILE_LABEL: "b"}
    other = {**leftover, "metadata": {"name": "netiso-probe-x", "labels": labels}}
    async with cluster(Network(runs_pods=False)) as server:
        server.put(pods_path("elsewhere"), {**leftover, "status": {"phase": "Running"}})
        server.put(pods_path("elsewhere"), other)
        await run_round(server.client(), PLAN)
        assert [p["metadata"]["name"] for p in probe_pods(server)] == ["netiso-probe-x"]
        assert await sweep(server.client()) == 1
        assert probe_pods(server) == []


def test_probe_pods_run_restricted_and_carry_only_the_probe_labels() -> None:
    from netiso.probing.podspecs import server_pod, source_pod

    owner = Owner("base", "uid-1")
    probe = EnforcementProbe(enabled=True, image_pull_secrets=("pull",))
    bodies = [
        server_pod(name="t", namespace="team-a", role="target", owner=owner, probe=probe),
        source_pod(name="s", namespace="netiso-system", owner=owner, probe=probe,
                   target_ip="10.0.0.1", control_ip="10.0.0.2"),
    ]  # fmt: skip
    for body in bodies:
        spec = body["spec"]
        assert set(body["metadata"]["labels"]) == {PROBE_LABEL, PROBE_PROFILE_LABEL}
        assert body["metadata"]["ownerReferences"][0]["kind"] == conventions.KIND
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        assert spec["imagePullSecrets"] == [{"name": "pull"}]
        assert spec["containers"]
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["runAsNonRoot"] is True


def test_an_inconclusive_round_says_why_the_pods_did_not_run() -> None:
    from netiso.probing.podspecs import waiting_reasons

    pending = {
        "metadata": {"name": "netiso-probe-target-1"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": "0/1 nodes are available: 1 node(s) had untolerated taint(s)."},
            ],
        },
    }  # fmt: skip
    pulling = {
        "metadata": {"name": "netiso-probe-control-1"},
        "status": {
            "containerStatuses": [
                {"name": "server", "state": {"waiting": {"reason": "ErrImagePull",
                                                         "message": "not found"}}},
            ]
        },
    }  # fmt: skip
    assert waiting_reasons([pending, pulling]) == [
        "netiso-probe-target-1: Unschedulable 0/1 nodes are available: 1 node(s) had "
        "untolerated taint(s).",
        "netiso-probe-control-1: ErrImagePull not found",
    ]
