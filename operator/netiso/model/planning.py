"""The desired policy set for one namespace: which policies, in what order, with what values.

Model layer, pure. plan_policies() decides *what* exists; each PlannedPolicy names the template
that says *how* its spec looks and the context values the template receives (rendering/).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from netiso import conventions
from netiso.model.apiendpoints import ApiServerEndpoints
from netiso.model.namespaces import NamespaceFacts
from netiso.model.profiles import PortRule, Profile
from netiso.model.selection import LabelSelector, SelectorOperator, SelectorRequirement

DNS_EGRESS_ROLE: Final = "allow-dns-egress"
GATEWAY_INGRESS_ROLE: Final = "allow-gateway-ingress"
MONITORING_SCRAPE_ROLE: Final = "allow-monitoring-scrape"
API_SERVER_EGRESS_ROLE: Final = "allow-apiserver-egress"
DEFAULT_DENY_ROLE: Final = "default-deny"
# Plan (and apply) order: allows first, so tightening never cuts traffic the profile allows.
ROLES: Final = (
    DNS_EGRESS_ROLE,
    GATEWAY_INGRESS_ROLE,
    MONITORING_SCRAPE_ROLE,
    API_SERVER_EGRESS_ROLE,
    DEFAULT_DENY_ROLE,
)
TEMPLATE_SUFFIX: Final = ".yaml.j2"


def policy_name(role: str) -> str:
    """The NetworkPolicy name for a role, e.g. `netiso-default-deny`."""
    return f"{conventions.POLICY_NAME_PREFIX}{role}"


def template_name(role: str) -> str:
    """The template file for a role, e.g. `default-deny.yaml.j2`."""
    return f"{role}{TEMPLATE_SUFFIX}"


@dataclass(frozen=True)
class PlannedPolicy:
    """One policy to exist in a namespace: its role, name, template and template context.

    The context holds JSON-ready values only (str, int, bool, None, dicts, tuples), keyed in
    snake_case; Kubernetes-shaped values (selectors) are already in their API form.
    `depends_on` is the cluster fact the rendering depends on besides the profile and the
    namespace (the API server's endpoints), None for none: renderings are shared by it.
    """

    role: str
    name: str
    template: str
    context: Mapping[str, Any] = field(hash=False)
    depends_on: Hashable = None


def plan_policies(
    profile: Profile,
    namespace: NamespaceFacts,
    *,
    api_server: ApiServerEndpoints | None = None,
) -> tuple[PlannedPolicy, ...]:
    """The policies `namespace` must have under `profile`: allows first, default-deny last.

    The API server allow admits the `api_server` endpoints; None or none known, it admits
    nothing (fail closed) until they are known.

    A disabled part plans nothing, and default-deny with neither direction denied plans nothing.
    An allow is planned only while its direction is denied: DNS egress needs egress deny, the
    gateway and monitoring ingress allows need ingress deny. That is not just tidiness. A
    NetworkPolicy isolates every pod it selects in each direction of its policyTypes, so an
    "allow DNS" policy with policyTypes [Egress] over all pods *is* an egress deny for all
    but DNS (https://kubernetes.io/docs/concepts/services-networking/network-policies/
    #the-two-sorts-of-pod-isolation). Planning it with egress deny off would cut egress the
    profile says is open. Staging stays safe in both directions: turning egress deny on
    applies the DNS allow before the updated default-deny (plan order), and turning it off
    updates the default-deny before the then-unplanned DNS allow is pruned.
    """
    deny = profile.default_deny
    context = {"namespace": namespace.name}
    planned: list[PlannedPolicy] = []
    if profile.dns.enabled and deny.egress:
        dns = profile.dns
        cache = dns.node_local_cache
        planned.append(
            _planned(
                DNS_EGRESS_ROLE,
                context
                | {
                    "namespace_selector": _namespaces_selector([dns.namespace]),
                    "pod_selector": dns.pod_selector.to_kubernetes(),
                    "node_local_cidr": cache.cidr if cache.enabled else None,
                    "ports": _ports(dns.ports),
                },
            )
        )
    if profile.gateway.enabled and deny.ingress:
        gateway = profile.gateway
        planned.append(
            _planned(
                GATEWAY_INGRESS_ROLE,
                context
                | {
                    "target_pod_selector": gateway.target_pod_selector.to_kubernetes(),
                    "namespace_selector": _namespaces_selector(gateway.namespaces),
                    "pod_selector": (
                        None
                        if gateway.pod_selector is None
                        else gateway.pod_selector.to_kubernetes()
                    ),
                    "ports": _ports(gateway.ports),
                },
            )
        )
    if profile.monitoring.enabled and deny.ingress:
        monitoring = profile.monitoring
        planned.append(
            _planned(
                MONITORING_SCRAPE_ROLE,
                context
                | {
                    "target_pod_selector": monitoring.target_pod_selector.to_kubernetes(),
                    "namespace_selector": _namespaces_selector(monitoring.namespaces),
                    "pod_selector": monitoring.pod_selector.to_kubernetes(),
                    "ports": _ports(monitoring.ports),
                },
            )
        )
    if profile.api_server.enabled and deny.egress:
        known = api_server or ApiServerEndpoints()
        selector = profile.api_server.pod_selector or LabelSelector()
        planned.append(
            _planned(
                API_SERVER_EGRESS_ROLE,
                context
                | {
                    "pod_selector": selector.to_kubernetes(),
                    "rules": tuple(group.to_context() for group in known.groups),
                },
                depends_on=known,
            )
        )
    if deny.ingress or deny.egress:
        planned.append(
            _planned(
                DEFAULT_DENY_ROLE,
                context | {"deny_ingress": deny.ingress, "deny_egress": deny.egress},
            )
        )
    return tuple(planned)


def _planned(role: str, context: dict[str, Any], *, depends_on: Hashable = None) -> PlannedPolicy:
    return PlannedPolicy(
        role=role,
        name=policy_name(role),
        template=template_name(role),
        context=MappingProxyType(context),
        depends_on=depends_on,
    )


def _namespaces_selector(names: Sequence[str]) -> dict[str, Any]:
    """Select namespaces by name through the label the API server sets (owners cannot fake it).

    One name uses matchLabels; several use one `In` expression, never several peers.
    """
    if len(names) == 1:
        return LabelSelector.of({conventions.NAMESPACE_NAME_LABEL: names[0]}).to_kubernetes()
    requirement = SelectorRequirement(
        key=conventions.NAMESPACE_NAME_LABEL,
        operator=SelectorOperator.IN,
        values=tuple(names),
    )
    return LabelSelector(match_expressions=(requirement,)).to_kubernetes()


def _ports(ports: Sequence[PortRule]) -> tuple[dict[str, Any], ...]:
    return tuple(
        {"protocol": str(port.protocol), "port": port.port, "end_port": port.end_port}
        for port in ports
    )
