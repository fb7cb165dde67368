"""The IsolationProfile as a validated value: the frozen dataclasses, enums and limits.

Model layer, pure. model/parsing.py builds these from a CR body (parse_profile) and
model/advisories.py says which legal settings are probably mistakes (profile_warnings);
defaults are the CRD's (tests/unit/test_crd_schema.py keeps the two in agreement).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Final

from netiso.model.enforcement import EnforcementProbe
from netiso.model.limits import Guardrails
from netiso.model.selection import LabelSelector

MAX_PORTS: Final = 32
MAX_NAMESPACES: Final = 64
MAX_OWNER_LENGTH: Final = 256
MAX_REASON_LENGTH: Final = 1024
# Characters owner and reason may not hold, as inclusive code point ranges: C0 and C1 controls
# (line breaks and terminal escapes included) and the bidirectional formatting characters of
# "Trojan Source" (CVE-2021-42574), which reorder text wherever the annotations are shown.
UNSAFE_TEXT_RANGES: Final = (
    (0x00, 0x1F),
    (0x7F, 0x9F),
    (0x061C, 0x061C),
    (0x200E, 0x200F),
    (0x202A, 0x202E),
    (0x2066, 0x2069),
)
_UNSAFE_TEXT: Final = re.compile(
    "[" + "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in UNSAFE_TEXT_RANGES) + "]"
)


def unsafe_text_class() -> str:
    """UNSAFE_TEXT_RANGES as an RE2 character class, for the CRD's CEL rule on owner/reason."""
    return (
        "[" + "".join(f"\\x{{{low:x}}}-\\x{{{high:x}}}" for low, high in UNSAFE_TEXT_RANGES) + "]"
    )


def unsafe_text_problem(text: str) -> str | None:
    """Why `text` may not be shown as is (the first unsafe character and where), None if safe."""
    found = _UNSAFE_TEXT.search(text)
    if found is None:
        return None
    return (
        "must not contain control or bidirectional formatting characters, "
        f"found U+{ord(found.group()):04X} at character {found.start() + 1}"
    )


MIN_PORT: Final = 1
MAX_PORT: Final = 65535
# The broadest node-local cache block we accept: a cache address is one IP, and anything wider
# than a /8 (IPv4) or /32 (IPv6) would open egress to much of the network.
MIN_PREFIX_V4: Final = 8
MIN_PREFIX_V6: Final = 32


class Mode(enum.StrEnum):
    """Enforce applies the planned policies; DryRun only reports what it would change."""

    ENFORCE = "Enforce"
    DRY_RUN = "DryRun"


class DriftAction(enum.StrEnum):
    """What to do when someone edits or deletes a managed policy: put it back, or only report."""

    REPAIR = "Repair"
    REPORT = "Report"


class OnDelete(enum.StrEnum):
    """When the profile is deleted: Delete removes its managed policies, Orphan leaves them."""

    DELETE = "Delete"
    ORPHAN = "Orphan"


class Protocol(enum.StrEnum):
    """The protocols a NetworkPolicy port can name."""

    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


@dataclass(frozen=True)
class PortRule:
    """One NetworkPolicy port: a number or a named container port, and an optional range end.

    `end_port` is only ever set with a numeric `port`, and is then >= `port`.
    """

    protocol: Protocol
    port: int | str
    end_port: int | None = None

    def to_kubernetes(self) -> dict[str, Any]:
        """The port as the API server stores it; protocol always explicit."""
        body: dict[str, Any] = {"protocol": str(self.protocol), "port": self.port}
        if self.end_port is not None:
            body["endPort"] = self.end_port
        return body


@dataclass(frozen=True)
class DefaultDeny:
    """Which directions the baseline policy denies; both false means no baseline policy."""

    ingress: bool = True
    egress: bool = True


DEFAULT_NODE_LOCAL_ADDRESS: Final = "169.254.20.10"


@dataclass(frozen=True)
class NodeLocalCache:
    """NodeLocal DNSCache: pods resolve via a link-local IP on each node, not kube-dns pods."""

    enabled: bool = False
    # An IP or a CIDR, validated by parse_profile; `cidr` gives the ipBlock form.
    address: str = DEFAULT_NODE_LOCAL_ADDRESS

    @property
    def cidr(self) -> str:
        """The address as an ipBlock cidr: a bare IP becomes /32 (IPv4) or /128 (IPv6)."""
        return str(ipaddress.ip_network(self.address, strict=False))


DEFAULT_DNS_NAMESPACE: Final = "kube-system"
DEFAULT_DNS_POD_SELECTOR: Final = LabelSelector.of({"k8s-app": "kube-dns"})
DEFAULT_DNS_PORTS: Final = (PortRule(Protocol.UDP, 53), PortRule(Protocol.TCP, 53))
DEFAULT_MONITORING_POD_SELECTOR: Final = LabelSelector.of({"app.kubernetes.io/name": "prometheus"})


@dataclass(frozen=True)
class Dns:
    """Egress from every pod to the cluster DNS pods (and the node-local cache if enabled).

    `pod_selector` is empty (every pod of the DNS namespace) only with `all_pods`.
    """

    enabled: bool = True
    namespace: str = DEFAULT_DNS_NAMESPACE
    pod_selector: LabelSelector = DEFAULT_DNS_POD_SELECTOR
    all_pods: bool = False
    ports: tuple[PortRule, ...] = DEFAULT_DNS_PORTS
    node_local_cache: NodeLocalCache = field(default_factory=NodeLocalCache)


@dataclass(frozen=True)
class Gateway:
    """Ingress from the gateway pods in `namespaces` to the target pods on `ports`.

    `pod_selector` None admits every pod of those namespaces, which the profile must ask for
    with `all_pods` (allPods: true); when enabled, `namespaces` and `ports` are non-empty.
    """

    enabled: bool = False
    namespaces: tuple[str, ...] = ()
    pod_selector: LabelSelector | None = None
    all_pods: bool = False
    target_pod_selector: LabelSelector = field(default_factory=LabelSelector)
    ports: tuple[PortRule, ...] = ()


@dataclass(frozen=True)
class Monitoring:
    """Ingress from the scraper pods in `namespaces` to the target pods on `ports`."""

    enabled: bool = False
    namespaces: tuple[str, ...] = ()
    pod_selector: LabelSelector = DEFAULT_MONITORING_POD_SELECTOR
    all_pods: bool = False
    target_pod_selector: LabelSelector = field(default_factory=LabelSelector)
    ports: tuple[PortRule, ...] = ()


@dataclass(frozen=True)
class ApiServer:
    """Egress from the pods `pod_selector` selects to the API server's endpoints, as the
    `default/kubernetes` EndpointSlices list them (addresses and ports kept in step).

    When enabled, `pod_selector` is None (every pod of the namespace) only with `all_pods`.
    """

    enabled: bool = False
    pod_selector: LabelSelector | None = None
    all_pods: bool = False


@dataclass(frozen=True)
class Profile:
    """A validated IsolationProfile: identity from metadata plus the defaulted spec.

    `uid` is "" and `generation` 0 for a profile read from a file rather than the API server.
    """

    name: str
    uid: str = ""
    generation: int = 0
    mode: Mode = Mode.ENFORCE
    drift_action: DriftAction = DriftAction.REPAIR
    on_delete: OnDelete = OnDelete.ORPHAN
    owner: str = ""
    reason: str = ""
    default_deny: DefaultDeny = field(default_factory=DefaultDeny)
    dns: Dns = field(default_factory=Dns)
    gateway: Gateway = field(default_factory=Gateway)
    monitoring: Monitoring = field(default_factory=Monitoring)
    api_server: ApiServer = field(default_factory=ApiServer)
    guardrails: Guardrails = field(default_factory=Guardrails)
    enforcement_probe: EnforcementProbe = field(default_factory=EnforcementProbe)

    def to_spec(self) -> dict[str, Any]:
        """The spec in CRD form with every default filled in, as the API server would store it
        (absent optional selectors and empty lists omitted). parse_profile() reads it back."""
        return {
            "mode": str(self.mode),
            "driftAction": str(self.drift_action),
            "onDelete": str(self.on_delete),
            "owner": self.owner,
            "reason": self.reason,
            "defaultDeny": {
                "ingress": self.default_deny.ingress,
                "egress": self.default_deny.egress,
            },
            "dns": _omit_empty(
                {
                    "enabled": self.dns.enabled,
                    "namespace": self.dns.namespace,
                    "allPods": self.dns.all_pods,
                    # Absent means the default selector: the CRD has no default, so that
                    # allPods: true can be set without contradicting a stored selector.
                    "podSelector": (
                        None
                        if self.dns.all_pods or self.dns.pod_selector == DEFAULT_DNS_POD_SELECTOR
                        else self.dns.pod_selector.to_kubernetes()
                    ),
                    "ports": [port.to_kubernetes() for port in self.dns.ports],
                    "nodeLocalCache": {
                        "enabled": self.dns.node_local_cache.enabled,
                        "address": self.dns.node_local_cache.address,
                    },
                }
            ),
            "gateway": _omit_empty(
                {
                    "enabled": self.gateway.enabled,
                    "namespaces": list(self.gateway.namespaces),
                    "allPods": self.gateway.all_pods,
                    "podSelector": (
                        None
                        if self.gateway.pod_selector is None
                        else self.gateway.pod_selector.to_kubernetes()
                    ),
                    "targetPodSelector": _selector_or_none(self.gateway.target_pod_selector),
                    "ports": [port.to_kubernetes() for port in self.gateway.ports],
                }
            ),
            "monitoring": _omit_empty(
                {
                    "enabled": self.monitoring.enabled,
                    "namespaces": list(self.monitoring.namespaces),
                    "allPods": self.monitoring.all_pods,
                    "podSelector": (
                        None
                        if self.monitoring.all_pods
                        else self.monitoring.pod_selector.to_kubernetes()
                    ),
                    "targetPodSelector": _selector_or_none(self.monitoring.target_pod_selector),
                    "ports": [port.to_kubernetes() for port in self.monitoring.ports],
                }
            ),
            "apiServer": _omit_empty(
                {
                    "enabled": self.api_server.enabled,
                    "allPods": self.api_server.all_pods,
                    "podSelector": (
                        None
                        if self.api_server.pod_selector is None
                        else self.api_server.pod_selector.to_kubernetes()
                    ),
                }
            ),
            "guardrails": self.guardrails.to_spec(),
            "enforcementProbe": self.enforcement_probe.to_spec(),
        }


def _selector_or_none(selector: LabelSelector) -> dict[str, Any] | None:
    """An empty target selector is spelt by leaving the field out (an explicit `{}` is refused)."""
    return None if selector.selects_all else selector.to_kubernetes()


def _omit_empty(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None and value != []}
