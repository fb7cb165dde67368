"""The dependency tracker on loop time, through the composition root: the DependenciesResolved
condition, the metric and the Events follow the DNS pods the profile names; only the profile's
namespaces are watched; nothing is written at steady state, after pod heartbeats, or after a
restart; a refused listing says so."""

from __future__ import annotations

from typing import Any

import pytest

from netiso.observed.view import ClusterView
from netiso.reporting.metrics import Metrics
from netiso.runtime.posting import EventPoster
from netiso.runtime.watching import WATCH_SECONDS
from netiso.tracking.tracker import DependencyTracker
from tests.unit.apiserver import FakeApiServer
from tests.unit.hermetic import (
    NAMESPACES,
    PROFILES,
    deliver_profile,
    namespace_body,
    profile_body,
    profile_path,
    running,
    settings,
    settle,
)

pytestmark = pytest.mark.looptime

DNS_NS = "kube-system"
PODS = f"/api/v1/namespaces/{DNS_NS}/pods"
SERVICES = f"/api/v1/namespaces/{DNS_NS}/services"
SLICES = f"/apis/discovery.k8s.io/v1/namespaces/{DNS_NS}/endpointslices"
CONFIG = settings(status_interval=1.0)


def dns_pod(name: str, *, labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": DNS_NS,
            "labels": {"k8s-app": "kube-dns"} if labels is None else labels,
            **extra,
        },
        "spec": {"containers": [{"name": "coredns", "ports": [{"containerPort": 53}]}]},
        "status": {"phase": "Running"},
    }


def dns_service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": DNS_NS},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 53, "protocol": "UDP"}]},
    }


def dns_slice(*pods: str, ready: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kube-dns-x",
            "namespace": DNS_NS,
            "labels": {"kubernetes.io/service-name": "kube-dns"},
        },
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [f"10.0.0.{index + 2}"],
                "conditions": {"ready": ready},
                "targetRef": {"kind": "Pod", "name": pod, "namespace": DNS_NS},
            }
            for index, pod in enumerate(pods)
        ],
    }


def condition(server: FakeApiServer, name: str = "base") -> dict[str, Any] | None:
    body = server.get(profile_path(name)) or {}
    for found in (body.get("status") or {}).get("conditions") or []:
        if found["type"] == "DependenciesResolved":
            return dict(found)
    return None


def profile_events(server: FakeApiServer) -> list[tuple[str, str]]:
    """The profile's dependency Events (Ready's own InSync Event left out)."""
    return [
        (body["type"], body["reason"])
        for body in server.items("/api/v1/namespaces/default/events")
        if body["involvedObject"]["kind"] == "IsolationProfile"
        and body["reason"] in ("DependenciesResolved", "DnsNoReadyEndpoint")
    ]


def unresolved(runtime: Any, reason: str, profile: str = "base") -> float | None:
    value = runtime.metrics.registry.get_sample_value(
        "netiso_dependency_unresolved", {"profile": profile, "reason": reason}
    )
    return None if value is None else float(value)


def cluster(server: FakeApiServer, *, dns_ready: bool) -> None:
    server.put(PROFILES, profile_body("base"))
    server.put(NAMESPACES, namespace_body("team-a", profile="base"))
    server.put(NAMESPACES, namespace_body(DNS_NS, profile=None))
    server.put(SERVICES, dns_service())
    server.put(PODS, dns_pod("coredns-1"))
    server.put(SLICES, dns_slice("coredns-1", ready=dns_ready))


async def test_dns_without_a_ready_endpoint_is_reported_then_its_recovery() -> None:
    server = FakeApiServer()
    cluster(server, dns_ready=False)
    async with running(server, CONFIG) as runtime:
        await settle()
        found = condition(server)
        assert found is not None
        assert (found["status"], found["reason"]) == ("False", "DnsNoReadyEndpoint")
        assert "fix:" in found["message"]
        assert "kube-dns" in found["message"]
        assert found["observedGeneration"] == (server.get(profile_path("base")) or {})[
            "metadata"
        ].get("generation", 0)
        assert unresolved(runtime, "DnsNoReadyEndpoint") == 1
        assert unresolved(runtime, "GatewayMatchesNothing") == 0
        assert profile_events(server) == [("Warning", "DnsNoReadyEndpoint")]

        server.put(SLICES, dns_slice("coredns-1", ready=True))
        await settle()
        found = condition(server)
        assert found is not None
        assert (found["status"], found["reason"]) == ("True", "Resolved")
        assert unresolved(runtime, "DnsNoReadyEndpoint") == 0
        assert profile_events(server)[-1] == ("Normal", "DependenciesResolved")
        assert len(profile_events(server)) == 2


async def test_a_selector_matching_no_dns_pod_is_reported() -> None:
    server = FakeApiServer()
    cluster(server, dns_ready=True)
    server.put(PODS, dns_pod("coredns-1", labels={"k8s-app": "coredns"}))
    async with running(server, CONFIG) as runtime:
        await settle()
        found = condition(server)
        assert found is not None
        assert (found["status"], found["reason"]) == ("False", "DnsNoReadyEndpoint")
        assert "matchLabels" in found["message"]  # the fix names the labels to select
        assert unresolved(runtime, "DnsNoReadyEndpoint") == 1


async def test_only_the_namespaces_profiles_name_are_watched() -> None:
    server = FakeApiServer()
    cluster(server, dns_ready=True)
    server.put(
        PROFILES,
        profile_body(
            "edge",
            gateway={"enabled": True, "namespaces": ["ingress"], "ports": [{"port": 8080}]},
            monitoring={"enabled": True, "namespaces": ["monitoring"], "ports": [{"port": 9090}]},
        ),
    )
    async with running(server, CONFIG) as runtime:
        await settle()
        watched = {(need.namespace, str(need.kind)) for need in runtime.tracker.watched()}
        assert watched == {
            (DNS_NS, "pods"),
            (DNS_NS, "services"),
            (DNS_NS, "endpointslices"),
            ("ingress", "pods"),
            ("monitoring", "pods"),
        }
        found = condition(server, "edge")
        assert found is not None
        assert found["status"] == "False"
        assert unresolved(runtime, "GatewayMatchesNothing", "edge") == 1
        assert unresolved(runtime, "MonitoringMatchesNothing", "edge") == 1
        assert unresolved(runtime, "GatewayMatchesNothing") == 0  # base has no gateway

        server.remove(PROFILES, "edge")
        await deliver_profile(runtime, server, "edge")
        await settle()
        watched = {(need.namespace, str(need.kind)) for need in runtime.tracker.watched()}
        assert ("ingress", "pods") not in watched
        assert (DNS_NS, "pods") in watched
        assert unresolved(runtime, "GatewayMatchesNothing", "edge") is None


async def test_steady_state_heartbeats_and_a_restart_write_nothing() -> None:
    server = FakeApiServer()
    cluster(server, dns_ready=False)
    async with running(server, CONFIG) as runtime:
        await settle()
        written = len(server.writes())
        for beat in range(20):  # status heartbeats: nothing the checks read changes
            server.put(PODS, dns_pod("coredns-1", annotations={"beat": str(beat)}))
            server.put(f"/api/v1/namespaces/{DNS_NS}/pods", dns_pod(f"done-{beat}"))
            await settle(1)
        # A pod elsewhere in the namespace is a fact; it changes nothing said, so no write.
        await settle(WATCH_SECONDS + 10)  # the watches renewed
        assert len(server.writes()) == written, server.writes()[written:]
        assert runtime.tracker.resolution("base") is not None
    async with running(server, CONFIG):
        await settle()
        assert len(server.writes()) == written, server.writes()[written:]
        assert profile_events(server) == [("Warning", "DnsNoReadyEndpoint")]


async def test_a_refused_listing_makes_the_condition_unknown_until_granted() -> None:
    server = FakeApiServer()
    cluster(server, dns_ready=True)
    refusal = server.fail("GET", PODS, status=403, reason="Forbidden", times=1000)
    async with running(server, CONFIG) as runtime:
        await settle()
        found = condition(server)
        assert found is not None
        assert (found["status"], found["reason"]) == ("Unknown", "DependenciesUnreadable")
        assert "pods in namespace kube-system" in found["message"]
        assert unresolved(runtime, "DnsNoReadyEndpoint") is None
        refusal.times = 0  # granted
        await settle(70)  # the next retry, after the longest backoff
        found = condition(server)
        assert found is not None
        assert found["status"] == "True"
        assert unresolved(runtime, "DnsNoReadyEndpoint") == 0
        assert profile_events(server) == []


async def test_a_standby_judges_but_shows_and_says_nothing_until_it_leads() -> None:
    server = FakeApiServer()
    cluster(server, dns_ready=False)
    view = ClusterView()
    view.profile_seen(
        {**profile_body("base"), "metadata": {"name": "base", "uid": "u"}}, deleted=False
    )
    metrics = Metrics(version="test")
    leads = [False]
    changed: list[str] = []
    tracker = DependencyTracker(
        api=server.client(),
        metrics=metrics,
        poster=EventPoster(server.client(), senders=1),
        profiles=view,
        leading=lambda: leads[0],
        on_change=changed.extend,
    )
    tracker.start()
    try:
        await settle()
        found = tracker.resolution("base")
        assert found is not None
        assert found.reason == "DnsNoReadyEndpoint"
        assert changed == ["base"]  # the status flusher (itself leader-only) is told
        sample = {"profile": "base", "reason": "DnsNoReadyEndpoint"}
        assert metrics.registry.get_sample_value("netiso_dependency_unresolved", sample) is None
        leads[0] = True
        await settle()
        assert metrics.registry.get_sample_value("netiso_dependency_unresolved", sample) == 1
        assert profile_events(server) == []  # the leader before it said so already
        leads[0] = False
        await settle()
        assert metrics.registry.get_sample_value("netiso_dependency_unresolved", sample) is None
    finally:
        await tracker.stop()
