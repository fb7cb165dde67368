"""A profile judged against cluster facts: DNS endpoints and ports, NodeLocal DNSCache, the
gateway and scraper pods, target ports, unreached ports and probes, each with its fix."""

from __future__ import annotations

from typing import Any

import pytest

from netiso.model.apiendpoints import api_server_endpoints
from netiso.model.parsing import parse_profile
from netiso.model.profiles import Profile
from netiso.reachability.clusterfacts import (
    ClusterFacts,
    node_local_dns,
    pod_facts,
    service_facts,
    slice_facts,
)
from netiso.reachability.dependencies import (
    Reason,
    Severity,
    dependency_findings,
    diagnose_profile,
)
from netiso.reachability.policies import parse_network_policy
from tests.unit.hermetic import profile_body


def profile(**spec: Any) -> Profile:
    return parse_profile(profile_body("p", **spec))


def pod(
    name: str,
    *,
    namespace: str = "kube-system",
    labels: dict[str, str] | None = None,
    ports: list[dict[str, Any]] | None = None,
    probe: dict[str, Any] | None = None,
    phase: str = "Running",
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "x", "ports": ports or []}
    if probe:
        container["readinessProbe"] = probe
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"containers": [container]},
        "status": {"phase": phase},
    }


DNS_SERVICE = {
    "metadata": {"name": "kube-dns", "namespace": "kube-system"},
    "spec": {"ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]},
}


def dns_slice(*pods: str, ready: bool = True, protocols: tuple[str, ...] = ("UDP", "TCP")) -> Any:
    return {
        "metadata": {
            "name": "kube-dns-abc",
            "namespace": "kube-system",
            "labels": {"kubernetes.io/service-name": "kube-dns"},
        },
        "ports": [{"name": f"dns-{p.lower()}", "port": 53, "protocol": p} for p in protocols],
        "endpoints": [
            {
                "addresses": [f"10.0.0.{index}"],
                "conditions": {"ready": ready},
                "targetRef": {"kind": "Pod", "name": name},
            }
            for index, name in enumerate(pods)
        ],
    }


def facts(*objects: dict[str, Any], caches: tuple[dict[str, Any], ...] = ()) -> ClusterFacts:
    pods = [pod_facts(o) for o in objects if "containers" in o.get("spec", {})]
    slices = [slice_facts(o) for o in objects if "endpoints" in o]
    services = [service_facts(o) for o in objects if "ports" in o.get("spec", {})]
    return ClusterFacts(
        pods=tuple(pods),
        services=tuple(services),
        slices=tuple(slices),
        node_local=tuple(node_local_dns(c) for c in caches),
    )


COREDNS = pod("coredns-1", labels={"k8s-app": "kube-dns", "pod-template-hash": "x"})
HEALTHY = (DNS_SERVICE, dns_slice("coredns-1"), COREDNS)


def reasons(found: Any) -> list[Reason]:
    return [finding.reason for finding in found]


def test_default_profile_on_a_healthy_cluster_has_no_finding() -> None:
    assert dependency_findings(profile(), facts(*HEALTHY)) == []


def test_dns_selector_matching_no_ready_endpoint_is_an_error_with_the_labels_to_use() -> None:
    coredns = pod("coredns-1", labels={"app": "coredns", "pod-template-hash": "abc"})
    (finding,) = dependency_findings(profile(), facts(DNS_SERVICE, dns_slice("coredns-1"), coredns))
    assert finding.reason is Reason.DNS_NO_READY_ENDPOINT
    assert finding.severity is Severity.ERROR
    assert "none of the 1 ready endpoints" in finding.message
    assert finding.fix == "set spec.dns.podSelector to {matchLabels: {app: coredns}}"


def test_dns_service_without_ready_endpoints_is_an_error() -> None:
    found = dependency_findings(
        profile(), facts(DNS_SERVICE, dns_slice("coredns-1", ready=False), COREDNS)
    )
    assert reasons(found) == [Reason.DNS_NO_READY_ENDPOINT]
    assert "has no ready endpoint" in found[0].message


def test_dns_selector_matching_some_endpoints_is_a_warning() -> None:
    other = pod("coredns-2", labels={"k8s-app": "coredns"})
    found = dependency_findings(
        profile(), facts(DNS_SERVICE, dns_slice("coredns-1", "coredns-2"), COREDNS, other)
    )
    assert [(f.reason, f.severity) for f in found] == [
        (Reason.DNS_SELECTOR_MISSES_ENDPOINTS, Severity.WARNING)
    ]


def test_dns_in_another_namespace_names_the_namespace_field() -> None:
    (finding,) = dependency_findings(profile(dns={"namespace": "dns"}), facts(*HEALTHY))
    assert finding.reason is Reason.DNS_SERVICE_NOT_FOUND
    assert finding.subject == "spec.dns.namespace"


@pytest.mark.parametrize(
    ("ports", "missing", "severity"),
    [
        ([{"protocol": "TCP", "port": 53}], "UDP", Severity.ERROR),
        ([{"protocol": "UDP", "port": 53}], "TCP", Severity.WARNING),
        ([{"protocol": "UDP", "port": 5353}, {"protocol": "TCP", "port": 53}], "UDP", None),
    ],
)
def test_dns_ports_must_admit_what_the_endpoints_serve(
    ports: list[dict[str, Any]], missing: str, severity: Severity | None
) -> None:
    (finding,) = dependency_findings(profile(dns={"ports": ports}), facts(*HEALTHY))
    assert finding.reason is Reason.DNS_PORT_NOT_ALLOWED
    assert finding.fix == f"add {{protocol: {missing}, port: 53}} to spec.dns.ports"
    assert finding.severity is (severity or Severity.ERROR)


def test_dns_disabled_while_egress_is_denied_is_an_error_and_fine_when_egress_is_open() -> None:
    assert reasons(dependency_findings(profile(dns={"enabled": False}), facts())) == [
        Reason.DNS_DISABLED
    ]
    open_egress = profile(dns={"enabled": False}, defaultDeny={"egress": False})
    assert dependency_findings(open_egress, facts()) == []


NODE_LOCAL = {
    "metadata": {"name": "node-local-dns", "namespace": "kube-system"},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {"name": "c", "args": ["-localip", "169.254.20.10,10.96.0.10", "-conf", "x"]}
                ]
            }
        }
    },
}


def test_node_local_cache_running_but_not_allowed_is_an_error_naming_its_address() -> None:
    (finding,) = dependency_findings(profile(), facts(*HEALTHY, caches=(NODE_LOCAL,)))
    assert finding.reason is Reason.NODE_LOCAL_CACHE_NOT_ALLOWED
    assert finding.fix == "set spec.dns.nodeLocalCache.enabled: true (address 169.254.20.10)"


def test_node_local_cache_enabled_matches_or_mismatches_the_running_address() -> None:
    enabled = profile(dns={"nodeLocalCache": {"enabled": True}})
    assert dependency_findings(enabled, facts(*HEALTHY, caches=(NODE_LOCAL,))) == []
    elsewhere = profile(dns={"nodeLocalCache": {"enabled": True, "address": "169.254.0.1"}})
    found = dependency_findings(elsewhere, facts(*HEALTHY, caches=(NODE_LOCAL,)))
    assert reasons(found) == [Reason.NODE_LOCAL_CACHE_ADDRESS]
    assert reasons(dependency_findings(enabled, facts(*HEALTHY))) == [
        Reason.NODE_LOCAL_CACHE_NOT_FOUND
    ]


GATEWAY = {
    "enabled": True,
    "namespaces": ["ingress"],
    "podSelector": {"matchLabels": {"app": "nginx"}},
    "ports": [{"port": 8080}],
}


def test_gateway_selector_matching_no_pod_is_an_error_with_the_labels_there() -> None:
    envoy = pod("envoy-1", namespace="ingress", labels={"app": "envoy"})
    (finding,) = dependency_findings(profile(gateway=GATEWAY), facts(*HEALTHY, envoy))
    assert finding.reason is Reason.GATEWAY_MATCHES_NOTHING
    assert finding.fix == "set spec.gateway.podSelector to {matchLabels: {app: envoy}}"
    nginx = pod("nginx-1", namespace="ingress", labels={"app": "nginx"})
    assert dependency_findings(profile(gateway=GATEWAY), facts(*HEALTHY, nginx)) == []


def test_monitoring_default_selector_matching_nothing_and_finished_pods_not_counted() -> None:
    spec = {"enabled": True, "namespaces": ["mon"], "ports": [{"port": 9090}]}
    done = pod(
        "prom-0",
        namespace="mon",
        labels={"app.kubernetes.io/name": "prometheus"},
        phase="Succeeded",
    )
    found = dependency_findings(profile(monitoring=spec), facts(*HEALTHY, done))
    assert reasons(found) == [Reason.MONITORING_MATCHES_NOTHING]
    assert "(no pod there)" in found[0].message


def rendered(namespace: str, spec: dict[str, Any]) -> Any:
    return parse_network_policy({"metadata": {"name": "p", "namespace": namespace}, "spec": spec})


def test_namespace_checks_name_unreached_ports_unexposed_targets_and_probes() -> None:
    nginx = pod("nginx-1", namespace="ingress", labels={"app": "nginx"})
    web = pod(
        "web",
        namespace="team",
        labels={"app": "web"},
        ports=[{"name": "http", "containerPort": 8080}, {"containerPort": 5432}],
        probe={"httpGet": {"port": "http"}},
    )
    gateway = GATEWAY | {"ports": [{"port": 8080}, {"port": 8443}]}
    allow = rendered(
        "team",
        {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"port": 8080}, {"port": 8443}]}],
        },
    )
    diagnosis = diagnose_profile(
        profile(gateway=gateway),
        facts(*HEALTHY, nginx, web),
        namespaces=["team"],
        policies={"team": [allow]},
    )
    by_reason = {finding.reason: finding for finding in diagnosis.findings}
    assert set(by_reason) == {
        Reason.PORT_NOT_EXPOSED,
        Reason.PORT_UNREACHED,
        Reason.PROBE_FROM_NODE,
    }
    assert "spec.gateway.ports[1] (TCP 8443)" in by_reason[Reason.PORT_NOT_EXPOSED].message
    assert "declares TCP 5432, which no" in by_reason[Reason.PORT_UNREACHED].message
    assert by_reason[Reason.PROBE_FROM_NODE].severity is Severity.NOTE
    assert not diagnosis.fine


def test_notes_alone_leave_the_diagnosis_fine() -> None:
    web = pod("web", namespace="team", probe={"tcpSocket": {"port": 80}})
    diagnosis = diagnose_profile(profile(), facts(*HEALTHY, web), namespaces=["team"])
    assert reasons(diagnosis.findings) == [Reason.PROBE_FROM_NODE]
    assert diagnosis.fine
    assert diagnosis.as_dict()["findings"][0]["severity"] == "note"


API_ACCESS = {"enabled": True, "podSelector": {"matchLabels": {"app": "ctl"}}}


def test_api_server_allow_without_endpoints_is_an_error_and_with_them_a_translation_note() -> None:
    found = dependency_findings(
        profile(apiServer=API_ACCESS),
        ClusterFacts(
            pods=facts(*HEALTHY).pods,
            services=facts(*HEALTHY).services,
            slices=facts(*HEALTHY).slices,
            api_server=api_server_endpoints([]),
        ),
    )
    assert reasons(found) == [Reason.API_SERVER_ENDPOINTS_UNKNOWN]
    known = api_server_endpoints(
        [{"ports": [{"port": 6443}], "endpoints": [{"addresses": ["192.168.0.10"]}]}]
    )
    service = service_facts(
        {
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 443}]},
        }
    )
    (note,) = dependency_findings(
        profile(apiServer=API_ACCESS),
        ClusterFacts(
            pods=facts(*HEALTHY).pods,
            services=facts(*HEALTHY).services,
            slices=facts(*HEALTHY).slices,
            api_server=known,
            api_service=service,
        ),
    )
    assert (note.reason, note.severity) == (Reason.API_SERVER_BEFORE_TRANSLATION, Severity.NOTE)
    assert "admits 192.168.0.10/32 on TCP 6443" in note.message
    assert note.fix.endswith("also admit 10.96.0.1 on TCP 443 in a NetworkPolicy of the namespace")


def test_api_server_selector_matching_no_pod_of_the_namespace_is_a_warning() -> None:
    web = pod("web", namespace="team", labels={"app": "web"})
    diagnosis = diagnose_profile(
        profile(apiServer=API_ACCESS), facts(*HEALTHY, web), namespaces=["team"]
    )
    (finding,) = diagnosis.findings
    assert finding.reason is Reason.TARGETS_NOTHING
    assert finding.message.startswith("spec.apiServer.podSelector (app=ctl) matches no running pod")
