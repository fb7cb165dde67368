"""A second, small model of NetworkPolicy: the API reference's semantics, plus switches for
what kube-router v2.1.0 (the kit's test-only enforcer) does differently.

Written from kube-router's pkg/controllers/netpol (policy.go, pod.go), independently of
netiso's engine, so that a disagreement between the engine and the packets can be told apart:
with no deviation switched on the model states the reference semantics; with all of them it
states the enforcer. Reads plain API objects (dicts). The deviations:

- CROSS_DIRECTION: a policy with both Ingress and Egress has one iptables chain, which a pod it
  selects runs for traffic in both directions, so its egress rules admit traffic in the
  ingress check (and its ingress rules in the egress check) when it selects both pods
  (pod.go, setupPodNetpolRules: kubeBothPolicyType jumps to the chain without `-s`/`-d`).
- UNRESOLVED_NAMED_PORTS: a rule with pod peers whose ports are all named, none of which
  resolves on the relevant pods (the policy's own for ingress, the peers for egress), is built
  as a rule without ports: it admits every port (policy.go, processIngressRules and
  processEgressRules: `len(ports) == 0 && len(namedPorts) == 0` after resolution).
- EGRESS_IPBLOCK_NAMED_PORTS: named ports of an egress rule are never applied to its ipBlock
  peers, so those admit nothing on them (policy.go, processEgressRules: its dstIPBlocks
  branch loops over the numeric ports only; the ingress srcIPBlocks branch has both).
- NAMED_PORT_IP_LEAK: pods collecting named ports share one address list per pod, so a pod's
  IP can leak into another pod's named-port list (which pod depends on list order: modelled as
  "possible" for every pod linked by a shared named port) (policy.go, grabNamedPortFromPod:
  every endPoints of one pod holds that pod's one `ips` map, appended to in place).
- ANY_DESTINATION_NAMED_PORTS: an egress rule without `to` resolves its named ports on the
  pods of the policy's own namespace and admits the numbers found to every destination; a name
  no pod of that namespace declares admits nothing, even to a destination that declares it
  (policy.go, buildNetworkPoliciesInfo, processNetworkPolicyPorts, processEgressRules; see
  _toless_egress_admits).
"""

from __future__ import annotations

import enum
import ipaddress
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Body = Mapping[str, Any]


class Deviation(enum.StrEnum):
    CROSS_DIRECTION = "cross-direction rules"
    UNRESOLVED_NAMED_PORTS = "unresolved named ports admit every port"
    EGRESS_IPBLOCK_NAMED_PORTS = "named ports ignored on egress ipBlock peers"
    NAMED_PORT_IP_LEAK = "a pod's IP leaks into another's named-port list"
    ANY_DESTINATION_NAMED_PORTS = "egress named ports without `to` admit any destination"


# The four kube-router behaviours issue 21 documents, and the fifth, read from kube-router's
# source (policy.go, see _toless_egress_admits) and seen on packets: the 30-scenario run (seed
# 21, NETISO_DATAPLANE_SCENARIOS=30) shows it on 16 probes, too permissive on 10 and too strict
# on 6 (TCP 9090 to a pod declaring `metrics` under a to-less rule naming it), and nothing the
# model does not predict.
DOCUMENTED = frozenset(
    {
        Deviation.CROSS_DIRECTION,
        Deviation.UNRESOLVED_NAMED_PORTS,
        Deviation.EGRESS_IPBLOCK_NAMED_PORTS,
        Deviation.NAMED_PORT_IP_LEAK,
        Deviation.ANY_DESTINATION_NAMED_PORTS,
    }
)
ALL = frozenset(Deviation)
NONE: frozenset[Deviation] = frozenset()


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    labels: Mapping[str, str]
    ip: str
    # (name, protocol, number) of every declared container port that has a name.
    named_ports: tuple[tuple[str, str, int], ...]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Cluster:
    pods: tuple[Pod, ...]
    namespace_labels: Mapping[str, Mapping[str, str]]
    policies: tuple[Body, ...]

    @staticmethod
    def of(
        *, pods: Iterable[Body], namespaces: Iterable[Body], policies: Iterable[Body]
    ) -> Cluster:
        found = []
        for pod in pods:
            ip = (pod.get("status") or {}).get("podIP")
            if not ip or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            named = tuple(
                (port["name"], port.get("protocol", "TCP"), int(port["containerPort"]))
                for container in pod["spec"]["containers"]
                for port in container.get("ports") or ()
                if port.get("name")
            )
            meta = pod["metadata"]
            found.append(Pod(meta["namespace"], meta["name"], meta.get("labels") or {}, ip, named))
        labels = {ns["metadata"]["name"]: ns["metadata"].get("labels") or {} for ns in namespaces}
        return Cluster(tuple(found), labels, tuple(policies))


def selects(selector: Body | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (None: selects nothing here; {}: everything)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.get("matchExpressions") or ():
        key, operator, values = (
            requirement["key"],
            requirement["operator"],
            requirement.get("values") or [],
        )
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _types(policy: Body) -> set[str]:
    spec = policy["spec"]
    declared = spec.get("policyTypes")
    if declared:
        return set(declared)
    return {"Ingress", "Egress"} if spec.get("egress") else {"Ingress"}


def _selected(policy: Body, pod: Pod) -> bool:
    return pod.namespace == policy["metadata"]["namespace"] and selects(
        policy["spec"].get("podSelector") or {}, pod.labels
    )


def _in_block(block: Body, ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    if address not in ipaddress.ip_network(block["cidr"], strict=False):
        return False
    return not any(
        address in ipaddress.ip_network(e, strict=False) for e in block.get("except") or ()
    )


def _pod_peer(cluster: Cluster, policy: Body, peer: Body, pod: Pod) -> bool:
    """A podSelector/namespaceSelector peer matching `pod` (ipBlock peers: False)."""
    if "ipBlock" in peer and peer.get("ipBlock"):
        return False
    if peer.get("namespaceSelector") is not None:
        if not selects(peer["namespaceSelector"], cluster.namespace_labels.get(pod.namespace, {})):
            return False
    elif pod.namespace != policy["metadata"]["namespace"]:
        return False
    pod_selector = peer.get("podSelector")
    return pod_selector is None or selects(pod_selector, pod.labels)


def _block_peer(peer: Body, pod: Pod) -> bool:
    block = peer.get("ipBlock")
    return block is not None and _in_block(block, pod.ip)


def _components(pods: Sequence[Pod]) -> dict[str, set[str]]:
    """Pod IP -> IPs of every pod linked to it by a shared (name, protocol, number)."""
    parent = {pod.ip: pod.ip for pod in pods}

    def find(ip: str) -> str:
        while parent[ip] != ip:
            ip = parent[ip]
        return ip

    owners: dict[tuple[str, str, int], str] = {}
    for pod in pods:
        for named in pod.named_ports:
            if named in owners:
                parent[find(pod.ip)] = find(owners[named])
            else:
                owners[named] = pod.ip
    groups: dict[str, set[str]] = {}
    for pod in pods:
        groups.setdefault(find(pod.ip), set()).add(pod.ip)
    return {pod.ip: groups[find(pod.ip)] for pod in pods}


def _named_numbers(
    relevant: Sequence[Pod], name: str, protocol: str, target: Pod | None, leak: bool
) -> set[int]:
    """The numbers `name`/`protocol` resolves to for `target` among `relevant` pods (all
    numbers found when target is None); with `leak`, also those of pods linked to target."""
    numbers = set()
    linked = _components(relevant) if leak else {}
    for pod in relevant:
        for declared_name, declared_protocol, number in pod.named_ports:
            if declared_name != name or declared_protocol != protocol:
                continue
            if target is None or pod.ip == target.ip or target.ip in linked.get(pod.ip, set()):
                numbers.add(number)
    return numbers


def _ports_admit(
    ports: Sequence[Body],
    *,
    target: Pod | None,
    relevant: Sequence[Pod],
    port: int,
    protocol: str,
    deviations: frozenset[Deviation],
    numeric_only: bool = False,
) -> bool:
    """Whether a rule's `ports` admit port/protocol towards `target` (named ports resolved
    among `relevant`, as kube-router does; on `target` itself in the reference)."""
    if not ports:
        return True
    leak = Deviation.NAMED_PORT_IP_LEAK in deviations
    for entry in ports:
        entry_protocol = entry.get("protocol", "TCP")
        if entry_protocol != protocol:
            continue
        value = entry.get("port")
        if value is None:
            return True
        if isinstance(value, int):
            if value <= port <= (entry.get("endPort") or value):
                return True
            continue
        if numeric_only:
            continue
        # Resolved on the destination itself, as the reference says; kube-router resolves among
        # the relevant pods, which only differs where a deviation says so.
        own = _named_numbers([target], value, protocol, target, False) if target else set()
        linked = _named_numbers(relevant, value, protocol, target, True) if leak else set()
        if port in own | linked:
            return True
    return False


def _all_named_unresolved(ports: Sequence[Body], relevant: Sequence[Pod]) -> bool:
    if not ports:
        return False
    for entry in ports:
        value = entry.get("port")
        if not isinstance(value, str):
            return False
        if _named_numbers(relevant, value, entry.get("protocol", "TCP"), None, False):
            return False
    return True


def _toless_egress_admits(
    cluster: Cluster, policy: Body, ports: Sequence[Body], *, port: int, protocol: str
) -> bool:
    """An egress rule without `to`, as kube-router v2.1.0 builds it (pkg/controllers/netpol/
    policy.go): buildNetworkPoliciesInfo resolves its named ports with grabNamedPortFromPod on
    every pod of the policy's own namespace (never on the destination);
    processNetworkPolicyPorts drops a name none of them declares; processEgressRules
    (matchAllDestinations && !matchAllPorts) then accepts each numeric port and each resolved
    number towards every destination. So a name only the destination declares admits nothing
    (too strict), and a name some pod of the policy's namespace declares admits its numbers to
    every destination, whatever that destination declares (too permissive)."""
    if not ports:
        return True
    own = [p for p in cluster.pods if p.namespace == policy["metadata"]["namespace"]]
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        value = entry.get("port")
        if value is None:
            return True
        if isinstance(value, str):
            if port in _named_numbers(own, value, protocol, None, False):
                return True
        elif value <= port <= (entry.get("endPort") or value):
            return True
    return False


def _rule_admits(
    cluster: Cluster,
    policy: Body,
    rule: Body,
    *,
    direction: str,
    src: Pod,
    dst: Pod,
    port: int,
    protocol: str,
    deviations: frozenset[Deviation],
) -> bool:
    peers = rule.get("from" if direction == "Ingress" else "to") or []
    ports = rule.get("ports") or []
    remote = src if direction == "Ingress" else dst
    own_pods = [p for p in cluster.pods if _selected(policy, p)]
    if not peers:
        if direction == "Egress" and Deviation.ANY_DESTINATION_NAMED_PORTS in deviations:
            return _toless_egress_admits(cluster, policy, ports, port=port, protocol=protocol)
        relevant = own_pods if direction == "Ingress" else list(cluster.pods)
        return _ports_admit(
            ports, target=dst, relevant=relevant, port=port, protocol=protocol,
            deviations=deviations,
        )  # fmt: skip
    pod_peers = [
        p for p in cluster.pods if any(_pod_peer(cluster, policy, peer, p) for peer in peers)
    ]
    relevant = own_pods if direction == "Ingress" else pod_peers
    if remote in pod_peers or any(p.ip == remote.ip for p in pod_peers):
        if (
            Deviation.UNRESOLVED_NAMED_PORTS in deviations
            and pod_peers
            and _all_named_unresolved(ports, relevant)
        ):
            return True
        if _ports_admit(
            ports, target=dst, relevant=relevant, port=port, protocol=protocol,
            deviations=deviations,
        ):  # fmt: skip
            return True
    if any(_block_peer(peer, remote) for peer in peers):
        numeric_only = direction == "Egress" and Deviation.EGRESS_IPBLOCK_NAMED_PORTS in deviations
        if numeric_only and ports and all(isinstance(e.get("port"), str) for e in ports):
            return False
        if _ports_admit(
            ports, target=dst, relevant=relevant, port=port, protocol=protocol,
            deviations=deviations, numeric_only=numeric_only,
        ):  # fmt: skip
            return True
    return False


def _direction_allows(
    cluster: Cluster,
    *,
    direction: str,
    src: Pod,
    dst: Pod,
    port: int,
    protocol: str,
    deviations: frozenset[Deviation],
) -> bool:
    subject = dst if direction == "Ingress" else src
    other = "Egress" if direction == "Ingress" else "Ingress"
    governing = [p for p in cluster.policies if _selected(p, subject) and direction in _types(p)]
    if not governing:
        return True
    for policy in governing:
        key = "ingress" if direction == "Ingress" else "egress"
        for rule in policy["spec"].get(key) or ():
            if _rule_admits(
                cluster, policy, rule, direction=direction, src=src, dst=dst, port=port,
                protocol=protocol, deviations=deviations,
            ):  # fmt: skip
                return True
        if (
            Deviation.CROSS_DIRECTION in deviations
            and _types(policy) == {"Ingress", "Egress"}
            and _selected(policy, src)
            and _selected(policy, dst)
        ):
            for rule in policy["spec"].get(other.lower()) or ():
                if _rule_admits(
                    cluster, policy, rule, direction=other, src=src, dst=dst, port=port,
                    protocol=protocol, deviations=deviations,
                ):  # fmt: skip
                    return True
    return False


def allows(
    cluster: Cluster,
    *,
    src: Pod,
    dst: Pod,
    port: int,
    protocol: str,
    deviations: frozenset[Deviation] = NONE,
) -> bool:
    """Whether src may connect to dst on port/protocol, under `deviations`."""
    return all(
        _direction_allows(
            cluster, direction=direction, src=src, dst=dst, port=port, protocol=protocol,
            deviations=deviations,
        )
        for direction in ("Egress", "Ingress")
    )  # fmt: skip


def enforcer_outcomes(
    cluster: Cluster, *, src: Pod, dst: Pod, port: int, protocol: str
) -> frozenset[bool]:
    """What kube-router v2.1.0 may do with src -> dst on port/protocol: the answer with every
    documented deviation; both answers where only the IP leak (order-dependent) decides."""
    return frozenset(
        allows(cluster, src=src, dst=dst, port=port, protocol=protocol, deviations=deviations)
        for deviations in (DOCUMENTED, DOCUMENTED - {Deviation.NAMED_PORT_IP_LEAK})
    )


def explain(
    cluster: Cluster, *, src: Pod, dst: Pod, port: int, protocol: str, observed_open: bool
) -> tuple[Deviation, ...]:
    """The smallest set of deviations that turns the reference answer into what was observed:
    one alone if any does (the first such), else the fewest together (two deviations can
    compound: a cross-direction rule with unresolved named ports). Empty when none does, or
    when the reference already agrees."""
    reference = allows(cluster, src=src, dst=dst, port=port, protocol=protocol)
    if reference == observed_open:
        return ()
    for size in range(1, len(Deviation) + 1):
        for chosen in itertools.combinations(Deviation, size):
            if allows(
                cluster, src=src, dst=dst, port=port, protocol=protocol,
                deviations=frozenset(chosen),
            ) == observed_open:  # fmt: skip
                return chosen
    return ()
