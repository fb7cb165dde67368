"""plan_policies(): which policies a namespace gets, in which order, with which template values.

Unit tests of the model layer (netiso.model.planning); rendering is tested separately.
"""

from __future__ import annotations

from typing import Any

import pytest

from netiso import conventions
from netiso.model.apiendpoints import api_server_endpoints
from netiso.model.namespaces import NamespaceFacts
from netiso.model.parsing import parse_profile
from netiso.model.planning import (
    API_SERVER_EGRESS_ROLE,
    DEFAULT_DENY_ROLE,
    DNS_EGRESS_ROLE,
    GATEWAY_INGRESS_ROLE,
    MONITORING_SCRAPE_ROLE,
    ROLES,
    PlannedPolicy,
    plan_policies,
    policy_name,
)
from netiso.model.profiles import Profile
from tests.unit.hermetic import profile_body

TEAM_A = NamespaceFacts("team-a", {"netiso.io/profile": "p"})
GATEWAY = {
    "enabled": True,
    "namespaces": ["ingress-nginx"],
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
    "ports": [{"port": 8080}, {"protocol": "TCP", "port": 8443}],
}
MONITORING = {
    "enabled": True,
    "namespaces": ["monitoring"],
    "ports": [{"port": 9090, "endPort": 9100}],
}


def profile(**spec: Any) -> Profile:
    return parse_profile(profile_body("p", **spec))


def roles(spec: dict[str, Any]) -> list[str]:
    return [planned.role for planned in plan_policies(profile(**spec), TEAM_A)]


def test_roles_are_ordered_allows_first_and_default_deny_last() -> None:
    assert ROLES == (
        "allow-dns-egress",
        "allow-gateway-ingress",
        "allow-monitoring-scrape",
        "allow-apiserver-egress",
        "default-deny",
    )
    assert ROLES[-1] == DEFAULT_DENY_ROLE


def test_full_profile_plans_all_four_policies_in_role_order() -> None:
    planned = plan_policies(profile(gateway=GATEWAY, monitoring=MONITORING), TEAM_A)
    assert [(p.role, p.name, p.template) for p in planned] == [
        ("allow-dns-egress", "netiso-allow-dns-egress", "allow-dns-egress.yaml.j2"),
        ("allow-gateway-ingress", "netiso-allow-gateway-ingress", "allow-gateway-ingress.yaml.j2"),
        (
            "allow-monitoring-scrape",
            "netiso-allow-monitoring-scrape",
            "allow-monitoring-scrape.yaml.j2",
        ),
        ("default-deny", "netiso-default-deny", "default-deny.yaml.j2"),
    ]


def test_policy_names_use_the_shared_prefix() -> None:
    for role in ROLES:
        assert policy_name(role) == conventions.POLICY_NAME_PREFIX + role


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, [DNS_EGRESS_ROLE, DEFAULT_DENY_ROLE]),
        ({"dns": {"enabled": False}}, [DEFAULT_DENY_ROLE]),
        ({"gateway": GATEWAY}, [DNS_EGRESS_ROLE, GATEWAY_INGRESS_ROLE, DEFAULT_DENY_ROLE]),
        ({"monitoring": MONITORING}, [DNS_EGRESS_ROLE, MONITORING_SCRAPE_ROLE, DEFAULT_DENY_ROLE]),
        ({"defaultDeny": {"ingress": False, "egress": False}}, []),
        (
            {"defaultDeny": {"ingress": False, "egress": False}, "gateway": GATEWAY},
            [],
        ),
        # Ingress-only staging: DNS stays enabled but is not planned while egress is open.
        (
            {"defaultDeny": {"egress": False}, "gateway": GATEWAY},
            [GATEWAY_INGRESS_ROLE, DEFAULT_DENY_ROLE],
        ),
        # Egress-only: no ingress is denied, so no ingress allow is needed (or harmless).
        (
            {"defaultDeny": {"ingress": False}, "gateway": GATEWAY, "monitoring": MONITORING},
            [DNS_EGRESS_ROLE, DEFAULT_DENY_ROLE],
        ),
    ],
    ids=[
        "defaults",
        "dns disabled",
        "gateway",
        "monitoring",
        "nothing denied",
        "nothing denied with gateway",
        "ingress only",
        "egress only",
    ],
)
def test_each_part_is_planned_only_when_enabled_and_its_direction_is_denied(
    spec: dict[str, Any], expected: list[str]
) -> None:
    assert roles(spec) == expected


@pytest.mark.parametrize(
    ("deny", "context"),
    [
        ({}, {"deny_ingress": True, "deny_egress": True}),
        ({"egress": False}, {"deny_ingress": True, "deny_egress": False}),
        ({"ingress": False}, {"deny_ingress": False, "deny_egress": True}),
    ],
)
def test_default_deny_context_names_the_denied_directions(
    deny: dict[str, bool], context: dict[str, bool]
) -> None:
    planned = plan_policies(profile(defaultDeny=deny), TEAM_A)[-1]
    assert planned.role == DEFAULT_DENY_ROLE
    assert dict(planned.context) == {"namespace": "team-a"} | context


def test_dns_context_selects_kube_dns_by_namespace_name_and_pod_labels() -> None:
    planned = plan_policies(profile(), TEAM_A)[0]
    assert dict(planned.context) == {
        "namespace": "team-a",
        "namespace_selector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "pod_selector": {"matchLabels": {"k8s-app": "kube-dns"}},
        "node_local_cidr": None,
        "ports": (
            {"protocol": "UDP", "port": 53, "end_port": None},
            {"protocol": "TCP", "port": 53, "end_port": None},
        ),
    }


def test_node_local_cache_adds_its_cidr_only_when_enabled() -> None:
    enabled = profile(dns={"nodeLocalCache": {"enabled": True}})
    assert plan_policies(enabled, TEAM_A)[0].context["node_local_cidr"] == "169.254.20.10/32"
    disabled = profile(dns={"nodeLocalCache": {"enabled": False, "address": "10.0.0.10"}})
    assert plan_policies(disabled, TEAM_A)[0].context["node_local_cidr"] is None


def test_several_peer_namespaces_become_one_in_expression() -> None:
    planned = plan_policies(profile(gateway=GATEWAY | {"namespaces": ["gw-b", "gw-a"]}), TEAM_A)
    assert planned[1].context["namespace_selector"] == {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["gw-b", "gw-a"]}
        ]
    }


def test_gateway_without_pod_selector_admits_the_whole_namespace() -> None:
    spec = {key: value for key, value in GATEWAY.items() if key != "podSelector"}
    planned = plan_policies(profile(gateway=spec), TEAM_A)[1]
    assert planned.context["pod_selector"] is None
    assert planned.context["target_pod_selector"] == {}


def test_monitoring_context_carries_the_port_range_and_default_scraper_selector() -> None:
    planned = plan_policies(profile(monitoring=MONITORING), TEAM_A)[1]
    assert planned.context["pod_selector"] == {
        "matchLabels": {"app.kubernetes.io/name": "prometheus"}
    }
    assert planned.context["ports"] == ({"protocol": "TCP", "port": 9090, "end_port": 9100},)


def test_planning_does_not_depend_on_the_namespace_labels() -> None:
    spec = profile(gateway=GATEWAY)
    other = NamespaceFacts("team-a", {"something": "else"})
    assert plan_policies(spec, TEAM_A) == plan_policies(spec, other)


def test_planned_policies_are_read_only() -> None:
    planned = plan_policies(profile(), TEAM_A)[0]
    assert isinstance(planned, PlannedPolicy)
    with pytest.raises(TypeError):
        planned.context["ports"] = ()  # type: ignore[index]


API_SLICES = [
    {
        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.0.0.2"]}, {"addresses": ["10.0.0.1"]}],
    },
    {"ports": [{"name": "https", "port": 6443}], "endpoints": [{"addresses": ["fd00::1"]}]},
]


def test_api_server_allow_admits_each_endpoint_address_on_its_ports_only() -> None:
    spec = {"apiServer": {"enabled": True, "podSelector": {"matchLabels": {"app": "ctl"}}}}
    endpoints = api_server_endpoints(API_SLICES)
    planned = plan_policies(profile(**spec), TEAM_A, api_server=endpoints)
    assert [p.role for p in planned] == [DNS_EGRESS_ROLE, API_SERVER_EGRESS_ROLE, DEFAULT_DENY_ROLE]
    allow = planned[1]
    assert allow.context["pod_selector"] == {"matchLabels": {"app": "ctl"}}
    assert allow.context["rules"] == (
        {
            "cidrs": ["10.0.0.1/32", "10.0.0.2/32", "fd00::1/128"],
            "ports": [{"protocol": "TCP", "port": 6443}],
        },
    )
    assert allow.depends_on == endpoints
    # The same endpoints in another order or split are the same value: no re-render, no write.
    assert api_server_endpoints(reversed(API_SLICES)) == endpoints


def test_api_server_allow_without_known_endpoints_admits_nothing_and_needs_egress_denied() -> None:
    spec = {"apiServer": {"enabled": True, "allPods": True}}
    (allow,) = [
        p for p in plan_policies(profile(**spec), TEAM_A) if p.role == API_SERVER_EGRESS_ROLE
    ]
    assert allow.context == {"namespace": "team-a", "pod_selector": {}, "rules": ()}
    open_egress = profile(defaultDeny={"egress": False}, **spec)
    assert API_SERVER_EGRESS_ROLE not in [p.role for p in plan_policies(open_egress, TEAM_A)]
