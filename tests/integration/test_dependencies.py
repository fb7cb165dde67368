"""The operator says what `netiso doctor` says, on the real API server: a profile whose DNS has
no ready endpoint its selector matches, or whose gateway selector matches no pod, gets the
DependenciesResolved condition False, a Warning Event and the metric; when the pods and
EndpointSlices appear, the condition turns True, the metric 0, and one Normal Event says so.
Nothing is written while nothing changes, pod heartbeats included.

The operator runs under the shipped ClusterRole. There is no kubelet: pods, Services and
EndpointSlices are created as the API server stores them (tests/integration/ship_dns.py).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client, utils

from netiso_devkit.harness import OperatorProcess, wait_for

from .conftest import MakeNamespace
from .ship_cluster import apiserver_writes, events_for, read_profile
from .ship_dns import dns_objects, pod

pytestmark = pytest.mark.integration

DNS_LABELS = {"k8s-app": "kube-dns"}
CONDITION = "DependenciesResolved"


def dependencies(api: client.ApiClient, profile: str) -> dict[str, Any]:
    body = read_profile(api, profile) or {}
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition["type"] == CONDITION:
            return dict(condition)
    return {}


def profile_events(api: client.ApiClient, profile: str, reason: str) -> list[Any]:
    return [
        e for e in events_for(api, "default", reason=reason) if e.involved_object.name == profile
    ]


def unresolved(operator: OperatorProcess, profile: str, reason: str) -> float | None:
    return operator.metric("netiso_dependency_unresolved", profile=profile, reason=reason)


def timed(what: str, probe: Any) -> float:
    """Wait (at most 20 s) for `probe`; returns and prints how long it took (a measurement)."""
    started = time.monotonic()
    wait_for(what, probe, timeout=20.0)
    seconds = time.monotonic() - started
    print(f"{what}: {seconds:.2f} s")
    return seconds


def test_dns_without_a_matching_ready_endpoint_is_reported_and_its_recovery_followed(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
) -> None:
    dns = make_namespace("deps-dns")
    service, endpoints = dns_objects(dns, pod_labels=DNS_LABELS)[1:]
    # The DNS Service is there, its EndpointSlice lists no endpoint yet: no DNS pod is ready.
    utils.create_from_yaml(kube_api, yaml_objects=[service, {**endpoints, "endpoints": []}])
    profile = profiles("deps", dns={"namespace": dns})
    # Before any namespace opts in: reported before anything loses DNS.
    timed("condition False", lambda: dependencies(kube_api, profile).get("status") == "False")
    found = dependencies(kube_api, profile)
    assert found["reason"] == "DnsNoReadyEndpoint", found
    assert f"Service {dns}/kube-dns has no ready endpoint" in found["message"]
    assert "fix: make the DNS pods ready" in found["message"]
    generation = (read_profile(kube_api, profile) or {})["metadata"]["generation"]
    assert found["observedGeneration"] == generation
    wait_for("metric 1", lambda: unresolved(operator, profile, "DnsNoReadyEndpoint") == 1)
    assert unresolved(operator, profile, "GatewayMatchesNothing") == 0
    wait_for("Warning Event", lambda: profile_events(kube_api, profile, "DnsNoReadyEndpoint"))
    (warning,) = profile_events(kube_api, profile, "DnsNoReadyEndpoint")
    assert warning.type == "Warning"
    assert warning.message == found["message"]

    # Steady state: nothing is written, while a pod of the DNS namespace that nothing selects
    # changes (its annotations: facts the checks do not read).
    make_namespace("deps-team", labels={"netiso.io/profile": profile})
    time.sleep(3.0)  # the namespace's policies, its Events and the status flush settle
    writes = operator.write_requests()
    profile_writes = apiserver_writes(kube_api, "isolationprofiles")
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_pod(dns, pod(dns, "other", {"app": "other"}))
    for beat in range(5):
        core.patch_namespaced_pod("other", dns, {"metadata": {"annotations": {"b": str(beat)}}})
        time.sleep(0.5)
    time.sleep(3.0)
    assert operator.write_requests() == writes
    assert apiserver_writes(kube_api, "isolationprofiles") == profile_writes

    # The DNS pod appears and becomes a ready endpoint: the condition recovers.
    core.create_namespaced_pod(dns, pod(dns, "coredns-0", DNS_LABELS))
    client.DiscoveryV1Api(kube_api).replace_namespaced_endpoint_slice(
        endpoints["metadata"]["name"],
        dns,
        {
            **endpoints,
            "metadata": {
                **endpoints["metadata"],
                "resourceVersion": client.DiscoveryV1Api(kube_api)
                .read_namespaced_endpoint_slice(endpoints["metadata"]["name"], dns)
                .metadata.resource_version,
            },
        },
    )
    timed("condition True", lambda: dependencies(kube_api, profile).get("status") == "True")
    assert dependencies(kube_api, profile)["reason"] == "Resolved"
    wait_for("metric 0", lambda: unresolved(operator, profile, "DnsNoReadyEndpoint") == 0)
    wait_for("Normal Event", lambda: profile_events(kube_api, profile, CONDITION))
    time.sleep(2.0)
    # Once per change: one Warning, one Normal.
    assert len(profile_events(kube_api, profile, "DnsNoReadyEndpoint")) == 1
    (normal,) = profile_events(kube_api, profile, CONDITION)
    assert normal.type == "Normal"


def test_a_gateway_selector_matching_no_pod_is_reported_until_the_pod_runs(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
) -> None:
    dns, gateway = make_namespace("deps-dns"), make_namespace("deps-gw")
    utils.create_from_yaml(kube_api, yaml_objects=dns_objects(dns, pod_labels=DNS_LABELS))
    client.CoreV1Api(kube_api).create_namespaced_pod(gateway, pod(gateway, "nginx-0", {"app": "x"}))
    profile = profiles(
        "deps",
        dns={"namespace": dns},
        gateway={
            "enabled": True,
            "namespaces": [gateway],
            "podSelector": {"matchLabels": {"app": "nginx"}},
            "ports": [{"port": 8080}],
        },
    )
    timed("condition False", lambda: dependencies(kube_api, profile).get("status") == "False")
    found = dependencies(kube_api, profile)
    assert found["reason"] == "GatewayMatchesNothing", found
    assert "fix: set spec.gateway.podSelector to {matchLabels: {app: x}}" in found["message"]
    wait_for("metric 1", lambda: unresolved(operator, profile, "GatewayMatchesNothing") == 1)
    assert unresolved(operator, profile, "DnsNoReadyEndpoint") == 0
    wait_for("Warning Event", lambda: profile_events(kube_api, profile, "GatewayMatchesNothing"))

    client.CoreV1Api(kube_api).create_namespaced_pod(
        gateway, pod(gateway, "nginx-1", {"app": "nginx"})
    )
    timed("condition True", lambda: dependencies(kube_api, profile).get("status") == "True")
    wait_for("metric 0", lambda: unresolved(operator, profile, "GatewayMatchesNothing") == 0)
    wait_for("Normal Event", lambda: profile_events(kube_api, profile, CONDITION))
