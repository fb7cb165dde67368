"""Does a profile fit the cluster it isolates? The DNS, gateway and scraper pods it names, the
ports it opens, and what isolation is likely to break, judged from plain facts.

Reachability layer, pure: the facts (pods, Services, EndpointSlices, NodeLocal DNSCache) come
from `reachability.clusterfacts`; `netiso doctor` reads them live. Every finding names the fix.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from netiso.model.profiles import PortRule, Profile
from netiso.model.selection import LabelSelector
from netiso.reachability.clusterfacts import (
    NODE_LOCAL_DNS_LABEL,
    SERVICE_NAME_LABEL,
    ClusterFacts,
    NodeLocalDns,
    PodFacts,
    ServiceFacts,
    SliceFacts,
)
from netiso.reachability.evaluation import resolved_ports
from netiso.reachability.matching import describe
from netiso.reachability.policies import INGRESS, Policy, PortEntry

DNS_PORT: Final = 53
# Labels every replica carries with a different value: never worth suggesting as a selector.
_VOLATILE_LABELS: Final = frozenset(
    {"pod-template-hash", "controller-revision-hash", "pod-template-generation"}
)


class Severity(enum.StrEnum):
    """ERROR: isolation breaks it; WARNING: likely breakage; NOTE: depends on the plugin."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


class Reason(enum.StrEnum):
    """Why a finding was made: the condition reason, the metric label, the JSON `reason`."""

    DNS_DISABLED = "DnsDisabled"
    DNS_SERVICE_NOT_FOUND = "DnsServiceNotFound"
    DNS_NO_READY_ENDPOINT = "DnsNoReadyEndpoint"
    DNS_SELECTOR_MISSES_ENDPOINTS = "DnsSelectorMissesEndpoints"
    DNS_PORT_NOT_ALLOWED = "DnsPortNotAllowed"
    NODE_LOCAL_CACHE_NOT_ALLOWED = "NodeLocalCacheNotAllowed"
    NODE_LOCAL_CACHE_NOT_FOUND = "NodeLocalCacheNotFound"
    NODE_LOCAL_CACHE_ADDRESS = "NodeLocalCacheAddressMismatch"
    GATEWAY_MATCHES_NOTHING = "GatewayMatchesNothing"
    MONITORING_MATCHES_NOTHING = "MonitoringMatchesNothing"
    TARGETS_NOTHING = "TargetsNothing"
    PORT_NOT_EXPOSED = "PortNotExposed"
    PORT_UNREACHED = "PortUnreached"
    PROBE_FROM_NODE = "ProbeFromNode"
    API_SERVER_ENDPOINTS_UNKNOWN = "ApiServerEndpointsUnknown"
    API_SERVER_BEFORE_TRANSLATION = "ApiServerBeforeTranslation"


@dataclass(frozen=True)
class Finding:
    """One thing that does not fit: what (`message`), about what (`subject`), and the fix."""

    check: str
    severity: Severity
    reason: Reason
    subject: str
    message: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return {
            "check": self.check,
            "severity": str(self.severity),
            "reason": str(self.reason),
            "subject": self.subject,
            "message": self.message,
            "fix": self.fix,
        }


# --- checks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Diagnosis:
    """Every finding of one profile against the cluster, and what was checked."""

    profile: str
    namespaces: tuple[str, ...]
    findings: tuple[Finding, ...]
    checked: tuple[str, ...] = ()

    @property
    def fine(self) -> bool:
        """No error and no warning (notes say what depends on the network plugin)."""
        return all(finding.severity is Severity.NOTE for finding in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "namespaces": list(self.namespaces),
            "fine": self.fine,
            "checked": list(self.checked),
            "findings": [finding.as_dict() for finding in self.findings],
        }


def diagnose_profile(
    profile: Profile,
    facts: ClusterFacts,
    *,
    namespaces: Sequence[str] = (),
    policies: Mapping[str, Sequence[Policy]] | None = None,
) -> Diagnosis:
    """Check `profile` against `facts`: its dependencies (DNS, NodeLocal DNSCache, gateway and
    scraper pods) always; with `namespaces` (and their ingress `policies`: the profile's
    rendered allows plus the namespace's own), what isolating them would break."""
    findings = dependency_findings(profile, facts)
    checked = ["dns", "gateway", "monitoring"]
    if facts.node_local is not None:
        checked.insert(1, "node-local-dns")
    if facts.api_server is not None:
        checked.append("api-server")
    for namespace in namespaces:
        pods = facts.pods_in(namespace)
        findings += _target_findings(profile, pods=pods, namespace=namespace)
        findings += _api_server_target_findings(profile, pods=pods, namespace=namespace)
        if profile.default_deny.ingress:
            findings += _unreached_findings(pods, (policies or {}).get(namespace, ()))
            findings += _probe_findings(pods)
    if namespaces:
        checked += ["targets", "ports", "probes"]
    return Diagnosis(
        profile=profile.name,
        namespaces=tuple(namespaces),
        findings=tuple(findings),
        checked=tuple(checked),
    )


def dependency_findings(profile: Profile, facts: ClusterFacts) -> list[Finding]:
    """What the profile depends on that the cluster does not provide: the checks the operator
    runs too (the DNS endpoints, the node-local cache, the gateway and scraper pods)."""
    findings = _dns_findings(profile, facts)
    if facts.node_local is not None:
        findings += _node_local_findings(profile, facts.node_local)
    findings += _peer_findings(profile, facts, part="gateway")
    findings += _peer_findings(profile, facts, part="monitoring")
    findings += _api_server_findings(profile, facts)
    return findings


def _api_server_findings(profile: Profile, facts: ClusterFacts) -> list[Finding]:
    """The apiServer allow: endpoints it can admit, and the Service translation caveat."""
    if not (profile.api_server.enabled and profile.default_deny.egress):
        return []
    if facts.api_server is None:
        return []
    if not facts.api_server.groups:
        return [
            Finding(
                "api-server",
                Severity.ERROR,
                Reason.API_SERVER_ENDPOINTS_UNKNOWN,
                "spec.apiServer",
                "the default/kubernetes EndpointSlices list no endpoint: the apiServer allow "
                "admits nothing, and the selected pods cannot reach the API server",
                "check that the API server advertises a reachable address "
                "(kubectl get endpointslices -n default -l "
                f"{SERVICE_NAME_LABEL}=kubernetes)",
            )
        ]
    service = facts.api_service
    vip = f"{service.cluster_ip}" if service and service.cluster_ip else "the Service's ClusterIP"
    ports = ", ".join(str(port) for port in service.ports) if service and service.ports else "443"
    return [
        Finding(
            "api-server",
            Severity.NOTE,
            Reason.API_SERVER_BEFORE_TRANSLATION,
            "spec.apiServer",
            f"the apiServer allow admits {facts.api_server.describe()}; pods connect to "
            f"{vip} on TCP {ports}, which most network plugins translate to those endpoints "
            "before evaluating egress, and some do not",
            f"on a plugin that evaluates egress before the Service is translated, also admit "
            f"{vip} on TCP {ports} in a NetworkPolicy of the namespace",
        )
    ]


def _dns_findings(profile: Profile, facts: ClusterFacts) -> list[Finding]:
    dns = profile.dns
    if not profile.default_deny.egress:
        return []
    if not dns.enabled:
        return [
            Finding(
                "dns",
                Severity.ERROR,
                Reason.DNS_DISABLED,
                "spec.dns.enabled",
                "DNS is not allowed while egress is denied: the namespaces' pods cannot "
                "resolve any name",
                "set spec.dns.enabled: true (unless no workload resolves names)",
            )
        ]
    services = [
        service
        for service in facts.services
        if service.namespace == dns.namespace and DNS_PORT in service.ports
    ]
    if not services:
        return [
            Finding(
                "dns",
                Severity.ERROR,
                Reason.DNS_SERVICE_NOT_FOUND,
                "spec.dns.namespace",
                f"no Service in namespace {dns.namespace} serves port {DNS_PORT}: the cluster "
                "DNS runs elsewhere, and the namespaces would lose DNS",
                "set spec.dns.namespace to the namespace of the cluster DNS Service "
                "(kubectl get services -A -l k8s-app=kube-dns)",
            )
        ]
    findings: list[Finding] = []
    pods = {pod.name: pod for pod in facts.pods_in(dns.namespace)}
    for service in services:
        slices = [
            item
            for item in facts.slices
            if item.namespace == service.namespace and item.service == service.name
        ]
        findings += _dns_service_findings(profile, service, slices=slices, pods=pods)
    return findings


def _dns_service_findings(
    profile: Profile,
    service: ServiceFacts,
    *,
    slices: Sequence[SliceFacts],
    pods: Mapping[str, PodFacts],
) -> list[Finding]:
    dns = profile.dns
    subject = f"Service {service.namespace}/{service.name}"
    ready = [endpoint for item in slices for endpoint in item.endpoints if endpoint.ready]
    if not ready:
        return [
            Finding(
                "dns",
                Severity.ERROR,
                Reason.DNS_NO_READY_ENDPOINT,
                subject,
                f"{subject} has no ready endpoint: DNS is down already, isolated or not",
                f"make the DNS pods ready (kubectl -n {service.namespace} get pods,"
                f"endpointslices -l {SERVICE_NAME_LABEL}={service.name})",
            )
        ]
    behind = [pods[endpoint.pod] for endpoint in ready if endpoint.pod in pods]
    matched = [pod for pod in behind if dns.pod_selector.matches(pod.labels)]
    findings: list[Finding] = []
    if len(matched) < len(ready):
        suggestion = _common_labels(behind)
        to_set = (
            f"set spec.dns.podSelector to {{matchLabels: {_flow(suggestion)}}}"
            if suggestion and not matched
            else "set spec.dns.podSelector to labels every DNS pod carries"
        )
        some = f"{len(matched)} of the {len(ready)}" if matched else f"none of the {len(ready)}"
        consequence = (
            "queries sent to the others are dropped"
            if matched
            else "every isolated namespace loses DNS"
        )
        findings.append(
            Finding(
                "dns",
                Severity.WARNING if matched else Severity.ERROR,
                Reason.DNS_SELECTOR_MISSES_ENDPOINTS if matched else Reason.DNS_NO_READY_ENDPOINT,
                subject,
                f"spec.dns.podSelector ({describe(dns.pod_selector)}) matches {some} ready "
                f"endpoints of {subject}{_labels_of(behind)}: {consequence}",
                to_set,
            )
        )
    served = {(port.protocol, port.number): port for item in slices for port in item.ports}
    for protocol, severity in (("UDP", Severity.ERROR), ("TCP", Severity.WARNING)):
        for (proto, number), port in sorted(served.items()):
            if proto != protocol:
                continue
            if not any(_admits(dns.ports, pod, protocol, number) for pod in matched or behind):
                findings.append(
                    Finding(
                        "dns",
                        severity,
                        Reason.DNS_PORT_NOT_ALLOWED,
                        "spec.dns.ports",
                        f"the DNS pods of {subject} listen on {protocol} {number}"
                        f"{f' ({port.name})' if port.name else ''}, which spec.dns.ports "
                        f"does not admit"
                        + (": large answers and TCP-only resolvers fail" if proto == "TCP" else ""),
                        f"add {{protocol: {protocol}, port: {number}}} to spec.dns.ports",
                    )
                )
    return findings


def _admits(ports: Sequence[PortRule], pod: PodFacts | None, protocol: str, number: int) -> bool:
    entries = tuple(PortEntry(str(rule.protocol), rule.port, rule.end_port) for rule in ports)
    destination = pod.as_destination() if pod is not None else None
    return resolved_ports(entries, destination).admits(protocol, number) if entries else False


def _node_local_findings(profile: Profile, found: Sequence[NodeLocalDns]) -> list[Finding]:
    cache = profile.dns.node_local_cache
    if not (profile.default_deny.egress and profile.dns.enabled):
        return []
    if not found:
        if not cache.enabled:
            return []
        return [
            Finding(
                "node-local-dns",
                Severity.WARNING,
                Reason.NODE_LOCAL_CACHE_NOT_FOUND,
                "spec.dns.nodeLocalCache",
                f"nodeLocalCache is enabled but no NodeLocal DNSCache DaemonSet "
                f"({NODE_LOCAL_DNS_LABEL}) runs: DNS egress is open to {cache.cidr}, which "
                "nothing serves",
                "set spec.dns.nodeLocalCache.enabled: false, or install NodeLocal DNSCache",
            )
        ]
    findings: list[Finding] = []
    for daemonset in found:
        subject = f"DaemonSet {daemonset.namespace}/{daemonset.name}"
        local = [address for address in daemonset.addresses if _link_local(address)]
        shown = ", ".join(local or daemonset.addresses) or "its link-local address"
        if not cache.enabled:
            address = local[0] if local else None
            findings.append(
                Finding(
                    "node-local-dns",
                    Severity.ERROR,
                    Reason.NODE_LOCAL_CACHE_NOT_ALLOWED,
                    subject,
                    f"NodeLocal DNSCache runs ({subject}, on {shown}): pods send DNS to it, "
                    "and spec.dns.nodeLocalCache is not enabled, so isolated namespaces lose DNS",
                    "set spec.dns.nodeLocalCache.enabled: true"
                    + (f" (address {address})" if address else ""),
                )
            )
            continue
        network = ipaddress.ip_network(cache.cidr, strict=False)
        if local and not any(ipaddress.ip_address(address) in network for address in local):
            findings.append(
                Finding(
                    "node-local-dns",
                    Severity.ERROR,
                    Reason.NODE_LOCAL_CACHE_ADDRESS,
                    "spec.dns.nodeLocalCache.address",
                    f"{subject} listens on {shown}, but spec.dns.nodeLocalCache.address is "
                    f"{cache.address}: DNS to the cache is dropped",
                    f"set spec.dns.nodeLocalCache.address: {local[0]}",
                )
            )
    return findings


def _link_local(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_link_local
    except ValueError:
        return False


def _peer_findings(profile: Profile, facts: ClusterFacts, *, part: str) -> list[Finding]:
    peers = profile.gateway if part == "gateway" else profile.monitoring
    if not (peers.enabled and profile.default_deny.ingress):
        return []
    selector: LabelSelector | None = peers.pod_selector
    if part == "gateway" and profile.gateway.pod_selector is None:
        selector = None
    candidates = [pod for name in peers.namespaces for pod in facts.pods_in(name)]
    if any(selector is None or selector.matches(pod.labels) for pod in candidates):
        return []
    where = ", ".join(peers.namespaces)
    shown = "every pod" if selector is None else describe(selector)
    suggestion = _common_labels(candidates)
    return [
        Finding(
            part,
            Severity.ERROR,
            Reason.GATEWAY_MATCHES_NOTHING
            if part == "gateway"
            else Reason.MONITORING_MATCHES_NOTHING,
            f"spec.{part}.podSelector",
            f"spec.{part}.podSelector ({shown}) matches no running pod in namespace(s) "
            f"{where}{_labels_of(candidates)}: "
            + (
                "the gateway cannot reach the isolated pods"
                if part == "gateway"
                else "the scraper cannot reach the isolated pods"
            ),
            (
                f"set spec.{part}.podSelector to {{matchLabels: {_flow(suggestion)}}}"
                if suggestion
                else f"set spec.{part}.namespaces to where the {part} pods run "
                f"(kubectl get pods -A --show-labels)"
            ),
        )
    ]


def _target_findings(
    profile: Profile, *, pods: Sequence[PodFacts], namespace: str
) -> list[Finding]:
    findings: list[Finding] = []
    if not profile.default_deny.ingress:
        return findings
    for part, peers in (("gateway", profile.gateway), ("monitoring", profile.monitoring)):
        if not peers.enabled:
            continue
        targets = [pod for pod in pods if peers.target_pod_selector.matches(pod.labels)]
        if not targets:
            findings.append(
                Finding(
                    "targets",
                    Severity.WARNING,
                    Reason.TARGETS_NOTHING,
                    f"namespace {namespace}",
                    f"spec.{part}.targetPodSelector "
                    f"({describe(peers.target_pod_selector)}) matches no running pod in "
                    f"namespace {namespace}",
                    f"set spec.{part}.targetPodSelector to labels of the pods the {part} must "
                    "reach",
                )
            )
            continue
        for index, rule in enumerate(peers.ports):
            if any(_exposes(pod, rule) for pod in targets):
                continue
            declared = sorted({port.words() for pod in targets for port in pod.ports})
            findings.append(
                Finding(
                    "targets",
                    Severity.WARNING,
                    Reason.PORT_NOT_EXPOSED,
                    f"namespace {namespace}",
                    f"spec.{part}.ports[{index}] ({_rule_words(rule)}) is a port none of the "
                    f"{len(targets)} target pod(s) in namespace {namespace} declares"
                    + (f" (they declare {', '.join(declared)})" if declared else ""),
                    f"set spec.{part}.ports[{index}] to a port the target pods listen on",
                )
            )
    return findings


def _api_server_target_findings(
    profile: Profile, *, pods: Sequence[PodFacts], namespace: str
) -> list[Finding]:
    access = profile.api_server
    if not (access.enabled and profile.default_deny.egress) or access.pod_selector is None:
        return []
    if any(access.pod_selector.matches(pod.labels) for pod in pods):
        return []
    return [
        Finding(
            "targets",
            Severity.WARNING,
            Reason.TARGETS_NOTHING,
            f"namespace {namespace}",
            f"spec.apiServer.podSelector ({describe(access.pod_selector)}) matches no running "
            f"pod in namespace {namespace}: no pod there may reach the API server",
            "set spec.apiServer.podSelector to labels of the pods that talk to the API server",
        )
    ]


def _exposes(pod: PodFacts, rule: PortRule) -> bool:
    protocol = str(rule.protocol)
    if isinstance(rule.port, str):
        return any(port.name == rule.port and port.protocol == protocol for port in pod.ports)
    last = rule.end_port or rule.port
    return any(port.protocol == protocol and rule.port <= port.number <= last for port in pod.ports)


def _rule_words(rule: PortRule) -> str:
    end = f"-{rule.end_port}" if rule.end_port is not None else ""
    return f"{rule.protocol} {rule.port}{end}"


def _unreached_findings(pods: Sequence[PodFacts], policies: Sequence[Policy]) -> list[Finding]:
    findings: list[Finding] = []
    for pod in pods:
        if pod.host_network or not pod.ports:
            continue
        destination = pod.as_destination()
        admitted = [
            resolved_ports(rule.ports, destination)
            for policy in policies
            if policy.governs(INGRESS) and policy.pod_selector.matches(pod.labels)
            for rule in policy.rules(INGRESS)
        ]
        unreached = [
            port
            for port in pod.ports
            if not any(ports.admits(port.protocol, port.number) for ports in admitted)
        ]
        if unreached:
            words = ", ".join(port.words() for port in unreached)
            findings.append(
                Finding(
                    "ports",
                    Severity.WARNING,
                    Reason.PORT_UNREACHED,
                    f"pod {pod.key}",
                    f"pod {pod.key} declares {words}, which no ingress allow admits: "
                    "connections to it are dropped once the namespace is isolated",
                    f"admit its clients with a NetworkPolicy in namespace {pod.namespace}, or "
                    "add the port to spec.gateway.ports or spec.monitoring.ports if the "
                    "gateway or the scraper connects to it",
                )
            )
    return findings


def _probe_findings(pods: Sequence[PodFacts]) -> list[Finding]:
    findings: list[Finding] = []
    for pod in pods:
        if pod.host_network or not pod.probes:
            continue
        words = ", ".join(
            f"{probe.kind.removesuffix('Probe')} {probe.handler} on {probe.port}"
            for probe in pod.probes
        )
        findings.append(
            Finding(
                "probes",
                Severity.NOTE,
                Reason.PROBE_FROM_NODE,
                f"pod {pod.key}",
                f"pod {pod.key} is probed by the kubelet ({words}): whether NetworkPolicy "
                "applies to traffic from the node depends on the network plugin (most admit "
                "it, some do not)",
                "if probes fail after opt-in, admit the node addresses on the probe ports "
                f"with a NetworkPolicy in namespace {pod.namespace} (an ipBlock of the node "
                "network), or check the plugin's documentation",
            )
        )
    return findings


def _common_labels(pods: Iterable[PodFacts]) -> dict[str, str]:
    """The labels every pod carries with the same value (volatile ones left out)."""
    common: dict[str, str] | None = None
    for pod in pods:
        labels = {k: v for k, v in pod.labels.items() if k not in _VOLATILE_LABELS}
        common = (
            labels if common is None else {k: v for k, v in common.items() if labels.get(k) == v}
        )
    return dict(sorted((common or {}).items()))


def _labels_of(pods: Sequence[PodFacts]) -> str:
    if not pods:
        return " (no pod there)"
    shown = sorted({_flow(dict(pod.labels)) for pod in pods})
    more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
    return f" (their labels: {'; '.join(shown[:3])}{more})"


def _flow(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{key}: {value}" for key, value in sorted(labels.items())) + "}"
